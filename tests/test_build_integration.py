"""ovaot as a build step: reproducible packages, up-to-date checks, and the make, CMake and wheel integrations."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest

import ovaot

from helpers import EXAMPLES, ROOT, host_has
from zoo import lstm_sequence

MODEL = EXAMPLES / "tiny_cnn.onnx"


def ovaot_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ovaot", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_same_inputs_give_byte_identical_packages_whatever_was_compiled_before(tmp_path: Path):
    first = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "a.ovpkg").output.read_bytes()
    ovaot.compile(lstm_sequence(), "CPU_FP32", tmp_path / "other.ovpkg")  # other work in between
    second = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "b.ovpkg").output.read_bytes()
    assert first == second
    done = ovaot_cli("compile", MODEL, "-t", "CPU_FP32", "-o", tmp_path / "c.ovpkg")  # a fresh process
    assert done.returncode == 0 and (tmp_path / "c.ovpkg").read_bytes() == first
    with zipfile.ZipFile(tmp_path / "a.ovpkg") as archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]  # sorted, blobs after the rest, the manifest last
        blobs = sorted(n for n in names if n.endswith(".blob"))
        assert names == [*sorted(n for n in names if n not in blobs and n != "manifest.json"), *blobs, "manifest.json"]
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        manifest = archive.read("manifest.json").decode()
    assert str(tmp_path) not in manifest and str(ROOT) not in manifest


def test_a_plan_of_several_partitions_is_byte_identical_too(tmp_path: Path):
    # The worker's head start on the whole model is discarded here: Conv..GlobalAveragePool | Flatten | Gemm..
    first = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "a.ovpkg", force_fallback=["Flatten"])
    assert [p.kind for p in first.manifest.plans[0].partitions] == ["openvino", "fallback", "openvino"]
    ovaot.compile(lstm_sequence(), "CPU_FP32", tmp_path / "other.ovpkg")
    done = ovaot_cli("compile", MODEL, "-t", "CPU_FP32", "-o", tmp_path / "b.ovpkg", "--force-fallback", "Flatten")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "b.ovpkg").read_bytes() == first.output.read_bytes()


def test_up_to_date_skips_the_compile_and_force_rebuilds(tmp_path: Path):
    package = tmp_path / "m.ovpkg"
    built = ovaot.compile(MODEL, "CPU_FP32", package)
    stamp = package.stat().st_mtime_ns
    again = ovaot.compile(MODEL, "CPU_FP32", package)
    assert again.up_to_date and again.manifest == built.manifest and package.stat().st_mtime_ns == stamp
    assert not ovaot.compile(MODEL, "CPU_FP32", package, force=True).up_to_date
    assert not ovaot.compile(MODEL, "CPU_FP32", package, opt_level="basic").up_to_date  # other options
    assert not ovaot.compile(MODEL, "CPU", package).up_to_date  # another target
    changed = onnx.load(MODEL)
    changed.graph.initializer[0].raw_data = bytes(len(changed.graph.initializer[0].raw_data))
    onnx.save(changed, tmp_path / "changed.onnx")
    assert not ovaot.compile(tmp_path / "changed.onnx", "CPU", package).up_to_date  # another model
    done = ovaot_cli("compile", tmp_path / "changed.onnx", "-t", "CPU", "-o", package)
    assert done.returncode == 0 and done.stdout.strip() == f"up to date: {package}"
    report = json.loads(ovaot_cli("compile", tmp_path / "changed.onnx", "-t", "CPU", "-o", package, "--json").stdout)
    assert report["up_to_date"] is True


def test_verify_reports_integrity_and_imports_with_exit_codes(tmp_path: Path):
    package = tmp_path / "m.ovpkg"
    ovaot.compile(MODEL, "HETERO:MYRIAD,CPU", package)
    done = ovaot_cli("verify", package, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    runnable = "target" if host_has("NPU") else "host"  # an NPU takes over MYRIAD's work, from the IR
    assert report["ok"] and report["integrity"] == "ok" and report["runnable_plan"] == runnable
    assert {(b["plan"], b["device"], b["status"]) for b in report["blobs"]} == {("host", "CPU", "imports")}
    data = bytearray(package.read_bytes())
    data[len(data) // 2] ^= 0xFF
    package.write_bytes(bytes(data))
    done = ovaot_cli("verify", package)
    assert done.returncode == 3 and "problem" in done.stdout


def test_run_with_npz_in_and_out_and_bench(tmp_path: Path):
    package = tmp_path / "m.ovpkg"
    ovaot.compile(MODEL, "CPU_FP32", package)
    image = np.random.default_rng(5).random((2, 1, 28, 28), dtype=np.float32)
    np.savez(tmp_path / "in.npz", image=image)
    done = ovaot_cli("run", package, "--input", tmp_path / "in.npz", "--output", tmp_path / "out.npz", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outputs"][0]["shape"] == [2, 10]
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["probabilities"], ovaot.load(package).run(None, {"image": image})[0])
    done = ovaot_cli("bench", package, "--runs", "20", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["runs"] == 20 and 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    assert report["throughput_per_s"] > 0


@pytest.mark.parametrize("suffix", [".svg", ".dot", ".html"])
def test_inspect_graph_is_drawn(suffix: str, tmp_path: Path):
    package = tmp_path / "m.ovpkg"
    ovaot.compile(MODEL, "CPU_FP32", package, force_fallback=["Relu"])
    drawing = tmp_path / f"graph{suffix}"
    assert ovaot_cli("inspect", package, "--graph", drawing).returncode == 0
    text = drawing.read_text()
    assert "fallback" in text and "CPU" in text
    if suffix == ".svg":
        import xml.etree.ElementTree as ElementTree

        root = ElementTree.fromstring(text)
        assert len(root.findall("{http://www.w3.org/2000/svg}g")) == 5 + 2  # partitions, inputs, outputs
    if suffix == ".dot":
        assert text.startswith("digraph") and text.count("->") >= 5
    assert ovaot_cli("inspect", package, "--graph", tmp_path / "g.png").returncode == 2


def test_passes_json_lists_each_pass_with_its_level():
    passes = json.loads(ovaot_cli("passes", "--json").stdout)
    assert {"name", "level", "description"} == set(passes[0]) and any(p["name"] == "fuse_bn_into_conv" for p in passes)


def test_makefile_rule(tmp_path: Path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(EXAMPLES / "make" / "Makefile", tmp_path)
    shutil.copy(MODEL, tmp_path)
    command = ["make", "-C", str(tmp_path), f"OVAOT={sys.executable} -m ovaot"]
    assert subprocess.run(command, capture_output=True, text=True, timeout=300).returncode == 0
    assert (tmp_path / "tiny_cnn.ovpkg").is_file()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in again.stdout
    ovaot.load(tmp_path / "tiny_cnn.ovpkg")


def test_cmake_custom_command(tmp_path: Path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    build = tmp_path / "build"
    configure = subprocess.run(
        ["cmake", "-S", str(EXAMPLES / "cmake"), "-B", str(build), f"-DPython3_EXECUTABLE={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert configure.returncode == 0, configure.stdout + configure.stderr
    done = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    ovaot.load(build / "tiny_cnn.ovpkg")


def test_wheel_build_compiles_the_models_in_tool_ovaot(tmp_path: Path):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "mypkg").mkdir()
    (project / "mypkg" / "__init__.py").write_text("")
    shutil.copy(MODEL, project / "models" / "net.onnx")
    (project / "pyproject.toml").write_text(
        textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=70.1", "ovaot"]
        build-backend = "ovaot.integrations.build_backend"

        [project]
        name = "mypkg"
        version = "1.0"

        [tool.setuptools]
        packages = ["mypkg"]

        [tool.setuptools.package-data]
        mypkg = ["*.ovpkg"]

        [tool.ovaot]
        models = [{source = "models/net.onnx", target = "CPU_FP32", output = "mypkg/net.ovpkg"}]
    """)
    )
    script = "from ovaot.integrations import build_backend; print(build_backend.build_wheel('dist'))"
    done = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    wheel = project / "dist" / done.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as archive:
        assert "mypkg/net.ovpkg" in archive.namelist()
        (tmp_path / "net.ovpkg").write_bytes(archive.read("mypkg/net.ovpkg"))
    assert ovaot.load(tmp_path / "net.ovpkg").manifest.source_name == "net.onnx"


def test_diff_compares_packages_by_meaning(tmp_path: Path):
    a = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "a.ovpkg").output
    b = ovaot.compile(MODEL, "CPU_FP32", tmp_path / "b.ovpkg", force_fallback=["Relu"]).output
    same = ovaot_cli("diff", a, a)
    assert same.returncode == 0 and same.stdout.strip() == "same"
    done = ovaot_cli("diff", a, b, "--json")
    assert done.returncode == 1
    differences = json.loads(done.stdout)["differences"]
    assert any(d.startswith("options:") for d in differences)
    assert "plan target: 1 partitions != 5" in differences
