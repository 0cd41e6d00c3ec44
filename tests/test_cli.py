"""The command line: compile, run and inspect; bad input gives one line, a non-zero exit and no output file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from helpers import EXAMPLES, host_has


def ovaot(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ovaot", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_compile_then_run_the_example(tmp_path: Path):
    package = tmp_path / "tiny.ovpkg"
    done = ovaot("compile", EXAMPLES / "tiny_cnn.onnx", "-t", "CPU_FP32", "-o", package)
    assert done.returncode == 0, done.stderr
    assert package.is_file() and "for CPU_FP32: 1 partition, on CPU (precompiled)." in done.stdout
    out_dir = tmp_path / "out"
    done = ovaot("run", package, "--input", f"image={EXAMPLES / 'tiny_cnn_input.npy'}", "--output", out_dir)
    assert done.returncode == 0, done.stderr
    image = np.load(EXAMPLES / "tiny_cnn_input.npy")
    (want,) = onnxruntime.InferenceSession(str(EXAMPLES / "tiny_cnn.onnx")).run(None, {"image": image})
    np.testing.assert_allclose(np.load(out_dir / "probabilities.npy"), want, rtol=1e-4, atol=1e-6)
    assert f"argmax={int(want.argmax())}" in done.stdout


def test_compile_json_and_inspect(tmp_path: Path):
    package = tmp_path / "tiny.ovpkg"
    done = ovaot(
        "compile", EXAMPLES / "tiny_cnn.onnx", "-t", "CPU_FP32", "-o", package, "--force-fallback", "Relu", "--json"
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [p["kind"] for p in report["partitions"]] == ["openvino", "fallback", "openvino", "fallback", "openvino"]
    assert report["target"] == "CPU_FP32" and report["options"]["force_fallback"] == ["Relu"]
    assert report["partitions"][1]["op_types"] == ["Relu"] and report["partitions"][0]["device"] == "CPU"
    done = ovaot("inspect", package)
    assert done.returncode == 0 and "why: Relu sent to the fallback by --force-fallback" in done.stdout
    assert "precompiled for: CPU; compiled at load for: none" in done.stdout
    inspected = json.loads(ovaot("inspect", package, "--json").stdout)
    assert inspected["partitions"] == report["partitions"] and len(inspected["plans"]) == 1


def test_time_report_says_where_the_compile_went(tmp_path: Path):
    done = ovaot(
        "compile", EXAMPLES / "tiny_cnn.onnx", "-t", "CPU_FP32", "-o", tmp_path / "m.ovpkg", "--time-report", "--json"
    )
    assert done.returncode == 0, done.stderr
    seconds = json.loads(done.stdout)["stage_seconds"]
    compiler = {name: s for name, s in seconds.items() if name != "total" and not name.startswith("worker: ")}
    for stage in ("read", "check", "shape inference", "conversion", "capability query", "package write"):
        assert compiler[stage] > 0, stage
    for stage in ("compile_model", "export_model", "blob check"):
        assert seconds[f"worker: {stage}"] > 0, stage
    assert sum(compiler.values()) <= seconds["total"]  # nested stages are not counted twice
    table = done.stderr.splitlines()
    assert table[0].split() == ["stage", "seconds", "share"] and any(line.startswith("total") for line in table)
    assert "in the export worker, beside the stages above:" in table


def _broken_inputs(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    invalid = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2] x) => (float[2] y) { y = Relu (x, x, x) }
    """)
    bad_checker = tmp_path / "bad_checker.onnx"
    bad_checker.write_bytes(invalid.SerializeToString())
    return {"missing": tmp_path / "missing.onnx", "not onnx": text, "checker": bad_checker}


@pytest.mark.parametrize("case", ["missing", "not onnx", "checker"])
def test_bad_model_gives_one_line_and_no_output(case: str, tmp_path: Path):
    source = _broken_inputs(tmp_path)[case]
    output = tmp_path / "out.ovpkg"
    done = ovaot("compile", source, "-t", "CPU_FP32", "-o", output)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("ovaot: error: "), done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".ovpkg", ".tmp"))) == []


def test_debug_shows_the_traceback(tmp_path: Path):
    done = ovaot("--debug", "compile", tmp_path / "missing.onnx", "-t", "CPU_FP32", "-o", tmp_path / "o.ovpkg")
    assert done.returncode != 0 and "Traceback" in done.stderr and "ModelError" in done.stderr


def test_failed_compile_keeps_the_previous_package(tmp_path: Path):
    package = tmp_path / "tiny.ovpkg"
    assert ovaot("compile", EXAMPLES / "tiny_cnn.onnx", "-t", "CPU_FP32", "-o", package).returncode == 0
    before = package.read_bytes()
    done = ovaot("compile", _broken_inputs(tmp_path)["checker"], "-t", "CPU_FP32", "-o", package)
    assert done.returncode == 1 and package.read_bytes() == before


def test_invalid_target_is_a_usage_error_listing_valid_ones(tmp_path: Path):
    done = ovaot("compile", EXAMPLES / "tiny_cnn.onnx", "-t", "TPU_FP8", "-o", tmp_path / "o.ovpkg")
    assert done.returncode == 2 and "CPU_FP32" in done.stderr and "HETERO" in done.stderr


def test_run_with_a_wrong_input_shape_is_one_clear_line(tmp_path: Path):
    package = tmp_path / "tiny.ovpkg"
    assert ovaot("compile", EXAMPLES / "tiny_cnn.onnx", "-t", "CPU_FP32", "-o", package).returncode == 0
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 28, 28), np.float32))
    done = ovaot("run", package, "--input", f"image={tmp_path / 'bad.npy'}")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "'image'" in done.stderr and "expected 1" in done.stderr


def test_devices_json_lists_this_host_and_what_can_be_precompiled():
    done = ovaot("devices", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    import openvino

    assert [d["name"] for d in report["devices"]] == openvino.Core().available_devices
    targets = {t["target"]: t["precompiled_here"] for t in report["targets"]}
    assert targets["CPU_FP32"] is True and targets["MYRIAD_FP16"] is False and targets["VAD-F_FP32"] is False


def test_inspect_says_what_is_precompiled_and_what_is_compiled_at_load(tmp_path: Path):
    package = tmp_path / "m.ovpkg"
    assert ovaot("compile", EXAMPLES / "tiny_cnn.onnx", "-t", "HETERO:MYRIAD,CPU", "-o", package).returncode == 0
    report = json.loads(ovaot("inspect", package, "--json").stdout)
    assert report["target"] == "HETERO:MYRIAD,CPU"
    assert [
        (p["kind"], p["device"], p["precompiled_for"], p["compiled_at_load_for"]) for p in report["partitions"]
    ] == [("openvino", "MYRIAD", [], ["MYRIAD"])]
    assert [plan["name"] for plan in report["plans"]] == ["target", "host"]
    assert report["plans"][1]["partitions"][0]["precompiled_for"] == ["CPU"]
    text = ovaot("inspect", package).stdout
    assert "precompiled for: none; compiled at load for: MYRIAD" in text and "plan host" in text


def test_the_mission_command_myriad_compiles_and_runs_the_host_variant_with_a_warning(tmp_path: Path):
    package = tmp_path / "tiny.ovpkg"
    done = ovaot("compile", EXAMPLES / "tiny_cnn.onnx", "-t", "MYRIAD_FP16", "-o", package)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"wrote {package} for MYRIAD_FP16: 1 partition, on MYRIAD (compiled from IR at load). Where a host cannot "
        "run that (this one lacks MYRIAD), the CPU-compiled host variant runs: 1 partition, on CPU (precompiled)."
    )
    image = np.load(EXAMPLES / "tiny_cnn_input.npy")
    done = ovaot("run", package, "--input", f"image={EXAMPLES / 'tiny_cnn_input.npy'}", "--output", tmp_path / "o.npz")
    assert done.returncode == 0, done.stderr
    if host_has("NPU"):  # MYRIAD's successor: the target plan's IR is compiled for it
        assert "MYRIAD is not here; compiling its IR for NPU" in done.stderr
    else:
        assert "running the host variant" in done.stderr and "MYRIAD" in done.stderr
    (want,) = onnxruntime.InferenceSession(str(EXAMPLES / "tiny_cnn.onnx")).run(None, {"image": image})
    got = np.load(tmp_path / "o.npz")["probabilities"]
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-5)  # the host variant keeps the target's FP16


def test_the_summary_names_each_partition_in_order(tmp_path: Path):
    package = tmp_path / "tiny.ovpkg"
    done = ovaot("compile", EXAMPLES / "tiny_cnn.onnx", "-t", "CPU", "-o", package, "--force-fallback", "Softmax")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"wrote {package} for CPU: 2 partitions, on CPU (precompiled); then the numpy fallback (1 node: Softmax)."
    )


def test_a_cause_with_a_long_message_is_one_line_that_says_what_would_help(tmp_path: Path):
    """onnx.reference has no GlobalLpPool kernel; its error lists every op it has, over dozens of lines."""
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[1, 2, 4, 4] x) => (float[1, 2, 1, 1] y) { y = GlobalLpPool <p = 2> (x) }
    """)
    source = tmp_path / "lp.onnx"
    onnx.save(model, source)
    command = ["compile", source, "-t", "CPU_FP32", "-o", tmp_path / "lp.ovpkg", "--force-fallback", "GlobalLpPool"]
    done = ovaot(*command)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.strip().endswith(
        "onnx.reference has no kernel for GlobalLpPool: supply one with ovaot.register_op('', 'GlobalLpPool', fn))"
    )
    assert not (tmp_path / "lp.ovpkg").exists()
    debug = ovaot("--debug", *command)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "GlobalAveragePool" in debug.stderr  # the list
