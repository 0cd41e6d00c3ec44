"""The spec's options at compile time and load time, and its environment variables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import ovaot
from ovaot.engines import ov_c
from ovaot.errors import UsageError

from helpers import EXAMPLES

MODEL = EXAMPLES / "tiny_cnn.onnx"
IMAGE = np.random.default_rng(31).random((1, 1, 28, 28), dtype=np.float32)


def _expected() -> np.ndarray:
    return onnxruntime.InferenceSession(str(MODEL)).run(None, {"image": IMAGE})[0]


@pytest.fixture
def compiled_models(monkeypatch) -> list[ov_c.CompiledModel]:
    """Every model the loader imports or compiles through ovaot.engines.ov_c, the real ones, in order."""
    made: list[ov_c.CompiledModel] = []
    for method in ("import_model", "compile_model_from_memory"):
        real = getattr(ov_c.Core, method)

        def recording(self, *args, _real=real, **kwargs):
            made.append(_real(self, *args, **kwargs))
            return made[-1]

        monkeypatch.setattr(ov_c.Core, method, recording)
    return made


def test_num_of_threads_is_applied_and_recorded(tmp_path: Path, compiled_models):
    manifest = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", num_of_threads=1).manifest
    assert manifest.options["provider_options"] == {"num_of_threads": 1}
    assert manifest.partitions[0].compile_config["INFERENCE_NUM_THREADS"] == "1"
    session = ovaot.load(tmp_path / "m.ovpkg", num_of_threads=2)
    (compiled,) = compiled_models
    assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == 2
    np.testing.assert_allclose(session.run(None, {"image": IMAGE})[0], _expected(), rtol=1e-4, atol=1e-6)


def test_streams_and_performance_hint_are_recorded_and_overridable_at_load(tmp_path: Path, compiled_models):
    built = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", num_streams=2, performance_hint="throughput")
    assert built.manifest.options["provider_options"] == {"num_streams": 2, "performance_hint": "THROUGHPUT"}
    config = built.manifest.partitions[0].compile_config
    assert config["NUM_STREAMS"] == "2" and config["PERFORMANCE_HINT"] == "THROUGHPUT"
    session = ovaot.load(built.output)  # the package's compile_config applies
    (compiled,) = compiled_models
    assert compiled.get_property("NUM_STREAMS") == "2" and compiled.get_property("PERFORMANCE_HINT") == "THROUGHPUT"
    feeds = [{"image": np.random.default_rng(i).random((1, 1, 28, 28), dtype=np.float32)} for i in range(5)]
    reference = onnxruntime.InferenceSession(str(MODEL))
    for feed, (got,) in zip(feeds, session.run_many(feeds)):  # as many requests as OpenVINO says are optimal
        np.testing.assert_allclose(got, reference.run(None, feed)[0], rtol=1e-4, atol=1e-6)
    ovaot.load(built.output, num_streams=1, performance_hint="LATENCY")
    override = compiled_models[-1]
    assert override.get_property("NUM_STREAMS") == "1" and override.get_property("PERFORMANCE_HINT") == "LATENCY"


def test_device_id_selects_the_device(tmp_path: Path):
    manifest = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", device_id="CPU").manifest
    assert manifest.partitions[0].devices == ["CPU"]
    with pytest.raises(UsageError, match="does not name a CPU device"):
        ovaot.compile(MODEL, "CPU_FP32", tmp_path / "x.ovpkg", device_id="GPU.1")


def test_vpu_fast_compile_is_recorded_with_a_warning_on_the_cpu(tmp_path: Path, caplog):
    manifest = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", enable_vpu_fast_compile="True").manifest
    assert manifest.options["provider_options"] == {"enable_vpu_fast_compile": True}
    assert "enable_vpu_fast_compile has no equivalent on CPU" in caplog.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_threads": 2}, r"unknown option 'num_threads' \(did you mean 'num_of_threads'\?\); parameters: "),
        ({"num_of_threads": 0}, "unsigned number other than 0"),
        ({"use_compiled_network": "maybe"}, "must be True or False"),
        ({"performance_hint": "FAST"}, "performance_hint must be one of LATENCY, THROUGHPUT"),
        ({"num_streams": -1}, "unsigned number other than 0"),
    ],
)
def test_bad_options_are_usage_errors(options, message, tmp_path: Path):
    with pytest.raises(UsageError, match=message):
        ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", **options)
    with pytest.raises(UsageError, match=message):
        ovaot.load(MODEL, **options)


def test_use_compiled_network_compiles_once_then_imports(tmp_path: Path, caplog):
    dump = tmp_path / "blobs"
    first = ovaot.load(MODEL, device_type="CPU_FP32", use_compiled_network=True, blob_dump_path=str(dump))
    packages = list(dump.glob("*.ovpkg"))
    assert len(packages) == 1 and packages[0].name.startswith("tiny_cnn.CPU_FP32.")
    stamp = packages[0].stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level("INFO"):
        second = ovaot.load(MODEL, device_type="CPU_FP32", use_compiled_network=True, blob_dump_path=str(dump))
    assert "use_compiled_network: importing" in caplog.text
    assert packages[0].stat().st_mtime_ns == stamp
    for session in (first, second):
        np.testing.assert_allclose(session.run(None, {"image": IMAGE})[0], _expected(), rtol=1e-4, atol=1e-6)


def test_default_blob_dump_path_is_ov_compiled_blobs(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ovaot.load(onnx.load(MODEL), use_compiled_network=True)
    assert len(list((tmp_path / "ov_compiled_blobs").glob("*.ovpkg"))) == 1


def test_loading_onnx_without_caching_compiles_in_a_temporary_place(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session = ovaot.load(MODEL, device_type="CPU")
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_allclose(session.run(None, {"image": IMAGE})[0], _expected(), rtol=1e-4, atol=1e-6)


def test_environment_variables_load_the_given_package(tmp_path: Path):
    package = tmp_path / "m.ovpkg"
    ovaot.compile(MODEL, "CPU_FP32", package)
    script = """
import numpy as np, ovaot
session = ovaot.load("does-not-exist.ovpkg")
print(session.manifest.source_name, session.run(None, {"image": np.zeros((1, 1, 28, 28), np.float32)})[0].shape)
"""
    env = {"OV_USE_COMPILED_NETWORK": "1", "OV_BLOB_PATH": str(package), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "tiny_cnn.onnx (1, 10)"


def test_cli_option_flag(tmp_path: Path):
    def compile_with(option: str, *extra: str) -> subprocess.CompletedProcess:
        command = [
            sys.executable,
            "-m",
            "ovaot",
            "compile",
            str(MODEL),
            "-t",
            "CPU_FP32",
            "-o",
            str(tmp_path / "m.ovpkg"),
            "--option",
            option,
            *extra,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    done = compile_with("num_of_threads=1", "--json")
    assert done.returncode == 0, done.stderr
    assert '"provider_options": {"num_of_threads": 1}' in done.stdout
    done = compile_with("bogus=1")
    assert done.returncode == 2 and "unknown option 'bogus'" in done.stderr
