"""Partitions around the numpy fallback: forced op types and ops OpenVINO cannot convert."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from helpers import compile_and_load

CONV_SIGN_MODEL = """
<ir_version: 8, opset_import: ["" : 17]>
conv_sign (float[1, 3, 16, 16] x) => (float[1, 4, 14, 14] y) {
  c = Conv (x, w)
  r = Relu (c)
  s = Sign (r)
  m = Mul (s, c)
  y = Sigmoid (m)
}
"""


def _with_weight(text: str, name: str, shape: tuple[int, ...], seed: int) -> onnx.ModelProto:
    model = onnx.parser.parse_model(text)
    value = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    model.graph.initializer.append(numpy_helper.from_array(value, name))
    return model


def test_forced_fallback_gives_two_openvino_partitions_around_one_fallback(tmp_path: Path):
    model = _with_weight(CONV_SIGN_MODEL, "w", (4, 3, 3, 3), seed=3)
    result, session = compile_and_load(model, tmp_path, force_fallback=["Sign"])
    partitions = result.manifest.partitions
    assert [(p.kind, p.device) for p in partitions] == [("openvino", "CPU"), ("fallback", None), ("openvino", "CPU")]
    assert [n.op_type for n in partitions[1].nodes] == ["Sign"]
    assert partitions[1].nodes[0].source == "forced"
    assert partitions[0].consumes == ["x"] and set(partitions[2].consumes) == {"s", "c"}
    x = np.random.default_rng(4).standard_normal((1, 3, 16, 16)).astype(np.float32)
    (got,) = session.run(None, {"x": x})
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_same_model_without_forcing_is_one_openvino_partition(tmp_path: Path):
    model = _with_weight(CONV_SIGN_MODEL, "w", (4, 3, 3, 3), seed=3)
    result, _ = compile_and_load(model, tmp_path)
    assert [p.kind for p in result.manifest.partitions] == ["openvino"]
    assert {n.source for n in result.manifest.partitions[0].nodes} == {"live-query"}


UNCONVERTIBLE_MODEL = """
<ir_version: 8, opset_import: ["" : 17, "ai.onnx.ml" : 3]>
scaler (float[2, 8] x) => (float[2, 8] y) {
  a = MatMul (x, w)
  b = Relu (a)
  c = ai.onnx.ml.Scaler <offset = [0.5], scale = [2.0]> (b)
  d = Reshape (c, shape)
  y = Tanh (d)
}
"""


def test_op_openvino_cannot_convert_runs_in_the_fallback(tmp_path: Path):
    model = _with_weight(UNCONVERTIBLE_MODEL, "w", (8, 8), seed=5)
    model.graph.initializer.append(numpy_helper.from_array(np.array([2, 8], np.int64), "shape"))
    # Scaler unlowered: the lowering (on by default) would move it onto OpenVINO
    result, session = compile_and_load(model, tmp_path, disable_passes=["lower_ml_preprocessing"])
    placement = {n.op_type: p.kind for p in result.manifest.partitions for n in p.nodes}
    assert placement["Scaler"] == "fallback" and placement["MatMul"] == "openvino"
    scaler = next(n for p in result.manifest.partitions for n in p.nodes if n.op_type == "Scaler")
    assert scaler.source == "conversion" and "ai.onnx.ml.Scaler" in scaler.reason
    x = np.random.default_rng(6).standard_normal((2, 8)).astype(np.float32)
    (got,) = session.run(None, {"x": x})
    (want,) = ReferenceEvaluator(model).run(None, {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("forced", [["Relu"], ["Conv", "Sigmoid"], ["Relu", "Sign", "Mul"]])
def test_any_forced_split_of_a_model_matches_the_reference(
    forced: list[str], tiny_cnn: onnx.ModelProto, tmp_path: Path
):
    result, session = compile_and_load(tiny_cnn, tmp_path, force_fallback=forced)
    kinds = {n.op_type: p.kind for p in result.manifest.partitions for n in p.nodes}
    assert all(kinds[op] == "fallback" for op in forced if op in kinds)
    image = np.random.default_rng(8).random((3, 1, 28, 28), dtype=np.float32)
    (got,) = session.run(None, {"image": image})
    (want,) = ReferenceEvaluator(tiny_cnn).run(None, {"image": image})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
