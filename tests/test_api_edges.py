"""The API's edges a user meets in the first hour: what load takes, closing, keywords, options, outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import ovaot

from helpers import EXAMPLES

MODEL = EXAMPLES / "tiny_cnn.onnx"
IMAGE = np.load(EXAMPLES / "tiny_cnn_input.npy")


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pkg") / "tiny.ovpkg"
    ovaot.compile(MODEL, "CPU_FP32", path)
    return path


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    session = onnxruntime.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    return session.run(None, {"image": IMAGE})[0]


def test_load_takes_a_packages_bytes(package: Path, expected: np.ndarray):
    with ovaot.load(package.read_bytes()) as session:
        np.testing.assert_allclose(session.run(None, {"image": IMAGE})[0], expected, rtol=1e-4, atol=1e-6)


def test_load_takes_an_onnx_models_bytes_as_onnxruntime_does(expected: np.ndarray):
    with ovaot.load(MODEL.read_bytes()) as session:
        np.testing.assert_allclose(session.run(None, {"image": IMAGE})[0], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("source", "error", "message"),
    [
        (42, ovaot.UsageError, r"ovaot.load takes a path to a .ovpkg package .* the bytes .*; got int"),
        ({"image": IMAGE}, ovaot.UsageError, "got dict"),
        (b"\x00\xffnot a model at all", ovaot.ModelError, "neither an .ovpkg package nor an ONNX model"),
        (b"", ovaot.ModelError, "neither an .ovpkg package nor an ONNX model"),
        (b"PK\x03\x04 a truncated zip", ovaot.PackageError, "<package bytes>: not an .ovpkg archive"),
    ],
)
def test_load_says_what_it_accepts(source: object, error: type, message: str):
    with pytest.raises(error, match=message):
        ovaot.load(source)


def _maps(path: Path) -> bool:
    """Whether this process has `path` memory-mapped (Linux)."""
    return str(path.resolve()) in Path("/proc/self/maps").read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc/self/maps (Linux) to see mappings")
def test_close_releases_the_memory_map_and_refuses_to_run(package: Path, tmp_path: Path):
    copy = tmp_path / "own.ovpkg"  # a file no other session of this module maps
    copy.write_bytes(package.read_bytes())
    with ovaot.load(copy) as session:
        session.run(None, {"image": IMAGE})
        assert _maps(copy)  # the blob is imported in place from the package's memory map
    assert not _maps(copy)
    with pytest.raises(ovaot.UsageError, match="closed"):
        session.run(None, {"image": IMAGE})
    session.close()  # twice is harmless


def test_an_unknown_compile_keyword_is_refused_with_the_valid_ones(tmp_path: Path):
    with pytest.raises(ovaot.UsageError) as caught:
        ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", opt_levle=2)
    message = str(caught.value)
    assert message.startswith("unknown option 'opt_levle' (did you mean 'opt_level'?)")
    parameters, options = message.split("; ")[1:]
    assert parameters.startswith("parameters: force_fallback,") and "validate" in parameters
    assert options == (
        "OpenVINO EP options: device_id, num_of_threads, enable_vpu_fast_compile, use_compiled_network, "
        "blob_dump_path, num_streams, performance_hint, load_config"
    )
    assert not (tmp_path / "m.ovpkg").exists()


def test_device_type_given_to_compile_is_told_to_be_the_target(tmp_path: Path):
    with pytest.raises(ovaot.UsageError, match="device_type is the target, not an option here"):
        ovaot.compile(MODEL, "CPU_FP32", tmp_path / "m.ovpkg", device_type="GPU_FP16")


def test_compile_time_options_given_to_a_package_are_ignored_with_a_warning(package: Path, expected: np.ndarray):
    with pytest.warns(UserWarning, match="blob_dump_path, device_type, use_compiled_network ignored: a package"):
        session = ovaot.load(package, device_type="GPU_FP16", use_compiled_network=True, blob_dump_path="x")
    np.testing.assert_allclose(session.run(None, {"image": IMAGE})[0], expected, rtol=1e-4, atol=1e-6)


def test_an_unknown_load_option_is_refused(package: Path):
    with pytest.raises(ovaot.UsageError, match=r"unknown option 'stict' \(did you mean 'strict'\?\)"):
        ovaot.load(package, stict=True)


def test_run_options_are_ignored_with_a_warning(package: Path):
    session = ovaot.load(package)
    with pytest.warns(UserWarning, match="run_options is ignored"):
        session.run(None, {"image": IMAGE}, onnxruntime.RunOptions())


def test_an_unknown_output_is_not_an_input_error(package: Path):
    session = ovaot.load(package)
    with pytest.raises(ovaot.OvaotError) as caught:
        session.run(["logits"], {"image": IMAGE})
    assert not isinstance(caught.value, ovaot.InputError)
    assert str(caught.value) == "unknown output 'logits'; the model's outputs are ['probabilities']"


def test_every_error_class_is_exported():
    import ovaot.errors

    classes = {name for name, value in vars(ovaot.errors).items() if isinstance(value, type)}
    assert classes <= set(ovaot.__all__)
    assert ovaot.VerificationError.exit_code == 3


def test_onnx_model_proto_still_loads(expected: np.ndarray):
    with ovaot.load(onnx.load(MODEL)) as session:
        np.testing.assert_allclose(session.run(None, {"image": IMAGE})[0], expected, rtol=1e-4, atol=1e-6)


def test_a_model_whose_output_is_its_input_runs_and_closes(tmp_path: Path):
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[3] x) => (float[3] x) { }
    """)
    ovaot.compile(model, "CPU_FP32", tmp_path / "same.ovpkg")
    x = np.arange(3, dtype=np.float32)
    with ovaot.load(tmp_path / "same.ovpkg") as session:
        np.testing.assert_array_equal(session.run(None, {"x": x})[0], x)
    with pytest.raises(ovaot.UsageError, match="closed"):
        session.run(None, {"x": x})


def test_close_while_other_threads_run_lets_them_finish_or_refuses_them_cleanly(package: Path, expected: np.ndarray):
    import threading

    session = ovaot.load(package)
    outcomes: list[object] = []
    started = threading.Barrier(3)

    def keep_running() -> None:
        started.wait()
        while True:
            try:
                outcomes.append(session.run(None, {"image": IMAGE})[0])
            except Exception as exc:  # the first error ends this thread: it must say the session is closed
                outcomes.append(exc)
                return

    threads = [threading.Thread(target=keep_running) for _ in range(2)]
    for thread in threads:
        thread.start()
    started.wait()
    while len(outcomes) < 20:
        pass
    session.close()
    for thread in threads:
        thread.join()
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 2 and all(isinstance(e, ovaot.UsageError) and "closed" in str(e) for e in errors), errors
    for result in outcomes:
        if not isinstance(result, Exception):
            np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-6)
