"""--quantize int8 --calibration DATA: NNCF's post-training quantization of the OpenVINO partitions, recorded
with the calibration's hash and size and the accuracy against the float model; the same as NNCF by hand."""

from __future__ import annotations

import json

import numpy as np
import onnx
import openvino as ov
import pytest
from click.testing import CliRunner

import ovaot
from ovaot.cli import EXIT_USAGE, main

from helpers import EXAMPLES, relu_mlp

nncf = pytest.importorskip("nncf", reason="NNCF (ovaot[quantize]) is not installed")

pytestmark = pytest.mark.slow  # NNCF's statistics and quantization: the full suite's


@pytest.fixture
def calibration(tmp_path):
    images = np.random.default_rng(3).standard_normal((24, 1, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "calibration.npz", image=images)
    return tmp_path / "calibration.npz", images


def test_int8_package_is_what_nncf_makes_by_hand_and_records_its_accuracy(tmp_path, calibration):
    data, images = calibration
    command = ["compile", str(EXAMPLES / "tiny_cnn.onnx"), "-t", "CPU_FP32", "-o", str(tmp_path / "q.ovpkg")]
    result = CliRunner().invoke(main, [*command, "--quantize", "int8", "--calibration", str(data), "--json"])
    assert result.exit_code == 0, result.output
    json.loads(result.output)  # NNCF's progress bars stay out of the JSON
    session = ovaot.load(tmp_path / "q.ovpkg")
    [partition] = session.manifest.partitions
    record = partition.quantization
    assert record["quantized"] and record["calibration_size"] == 24 and record["top1_agreement"] >= 0.9
    assert session.manifest.options["quantize"] == "int8"
    assert session.manifest.options["calibration_digest"].startswith("blake3:")
    # NNCF applied by hand to the same model with the same data computes the same
    core = ov.Core()
    by_hand = nncf.quantize(core.read_model(str(EXAMPLES / "tiny_cnn.onnx")), nncf.Dataset([[x[None]] for x in images]))
    compiled = core.compile_model(by_hand, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    x = np.load(EXAMPLES / "tiny_cnn_input.npy")
    want = compiled.create_infer_request().infer([x])[0]
    np.testing.assert_allclose(session.run(None, {"image": x})[0], want, rtol=1e-5, atol=1e-6)
    assert any(op.get_type_name() == "FakeQuantize" for op in by_hand.get_ordered_ops())


def test_a_partition_that_reads_computed_values_stays_float_and_says_why(tmp_path, calibration):
    data, _ = calibration
    result = ovaot.compile(
        EXAMPLES / "tiny_cnn.onnx",
        "CPU_FP32",
        tmp_path / "q.ovpkg",
        quantize="int8",
        calibration=data,
        force_fallback=["MaxPool"],
    )
    records = [p.quantization for p in result.manifest.partitions if p.kind == "openvino"]
    assert records[0]["quantized"] and not records[-1]["quantized"] and "computed before it" in records[-1]["reason"]


def test_quantize_without_calibration_or_with_bad_data_is_a_usage_error(tmp_path):
    command = ["compile", str(EXAMPLES / "tiny_cnn.onnx"), "-t", "CPU_FP32", "-o", str(tmp_path / "q.ovpkg")]
    runner = CliRunner()
    assert "needs --calibration" in runner.invoke(main, [*command, "--quantize", "int8"]).output
    np.savez(tmp_path / "wrong.npz", picture=np.zeros((2, 1, 28, 28), np.float32))
    wrong = runner.invoke(main, [*command, "--quantize", "int8", "--calibration", str(tmp_path / "wrong.npz")])
    assert wrong.exit_code != 0 and "no array for input 'image'" in wrong.output
    assert runner.invoke(main, [*command, "--quantize", "int8"]).exit_code == EXIT_USAGE
    assert not (tmp_path / "q.ovpkg").exists()


@pytest.mark.parametrize(("mode", "extra", "shrink"), [("int8", [], 3.0), ("int4_sym", ["--group-size", "32"], 5.0)])
def test_compressed_weights_shrink_the_package_and_stay_close(tmp_path, mode, extra, shrink):
    model = tmp_path / "mlp.onnx"
    onnx.save(relu_mlp([128, 256, 256, 64], seed=8, scale=1 / 16), model)
    runner = CliRunner()
    base = ["compile", str(model), "-t", "CPU_FP32", "--no-check"]
    assert runner.invoke(main, [*base, "-o", str(tmp_path / "f.ovpkg")]).exit_code == 0
    result = runner.invoke(main, [*base, "-o", str(tmp_path / "c.ovpkg"), "--compress-weights", mode, *extra])
    assert result.exit_code == 0, result.output
    compressed, plain = ovaot.load(tmp_path / "c.ovpkg"), ovaot.load(tmp_path / "f.ovpkg")
    [partition] = compressed.manifest.partitions
    assert partition.quantization["compressed"] and mode.upper() in partition.quantization["method"]
    sizes = {
        kind: session.manifest.members[session.manifest.partitions[0].artifacts["ir_bin"]].size
        for kind, session in (("compressed", compressed), ("plain", plain))
    }
    assert sizes["plain"] / sizes["compressed"] > shrink, sizes
    x = np.random.default_rng(2).standard_normal((4, 128)).astype(np.float32)
    want, got = plain.run(None, {"x": x})[0], compressed.run(None, {"x": x})[0]
    assert np.abs(got - want).max() < 0.15 * np.abs(want).max()


def test_compression_options_that_do_not_fit_are_usage_errors(tmp_path):
    base = ["compile", str(EXAMPLES / "tiny_cnn.onnx"), "-t", "CPU_FP32", "-o", str(tmp_path / "m.ovpkg")]
    runner = CliRunner()
    result = runner.invoke(main, [*base, "--compress-weights", "int8", "--group-size", "64"])
    assert result.exit_code == EXIT_USAGE and "apply to --compress-weights int4" in result.output
    np.savez(tmp_path / "c.npz", image=np.zeros((2, 1, 28, 28), np.float32))
    both = runner.invoke(
        main, [*base, "--compress-weights", "int8", "--quantize", "int8", "--calibration", str(tmp_path / "c.npz")]
    )
    assert both.exit_code == EXIT_USAGE and "do not combine" in both.output


def test_validate_holds_an_int8_package_to_an_int8_tolerance(tmp_path, calibration):
    data, _ = calibration
    result = ovaot.compile(
        EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", tmp_path / "q.ovpkg", quantize="int8", calibration=data, validate=True
    )
    assert [p.kind for p in result.manifest.partitions] == ["openvino"]  # nothing refused for INT8 rounding
    assert result.manifest.partitions[0].quantization["quantized"]
