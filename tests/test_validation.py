"""--validate: what OpenVINO computes wrongly is found at build time and runs in the fallback instead.

Each model here is built in code (not taken from the conformance cases) around a divergence measured on
this OpenVINO: a blob that computes differently from the model it was exported from, inf lost in a cast,
shifts at and beyond the bit width. Results are compared with onnx.reference on inputs that hit the edge.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from ovaot.compiler import samples
from ovaot.format.manifest import Manifest

from helpers import compile_and_load


def _model(nodes, inputs, outputs, opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "validation", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _placements(manifest: Manifest) -> dict[str, tuple[str, str]]:
    """op_type -> (partition kind, placement source) for each node of the plan that runs."""
    return {n.op_type: (p.kind, n.source) for p in manifest.partitions for n in p.nodes}


def _assert_like_reference(model: onnx.ModelProto, session, feed: dict) -> None:
    want = ReferenceEvaluator(model).run(None, feed)
    got = session.run(None, feed)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def _rotary_model() -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 16])
    cos = helper.make_tensor_value_info("cos", TensorProto.FLOAT, [64, 8])
    sin = helper.make_tensor_value_info("sin", TensorProto.FLOAT, [64, 8])
    pos = helper.make_tensor_value_info("pos", TensorProto.INT64, [1, 5])
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("RotaryEmbedding", ["r", "cos", "sin", "pos"], ["y"]),
    ]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 5, 16])
    return _model(nodes, [x, cos, sin, pos], [y], opset=23)


def test_validation_checks_the_blob_as_shipped_not_the_model_it_came_from(tmp_path):
    # OpenVINO 2026.4's RotaryEmbedding is right when compiled and wrong once exported and imported. Without the
    # blob check (which would ship the IR instead), validation sees the blob and moves the node to the fallback.
    model = _rotary_model()
    result, session = compile_and_load(model, tmp_path, validate=True, check_blobs=False)
    assert _placements(result.manifest)["RotaryEmbedding"] == ("fallback", "validation")
    assert _placements(result.manifest)["Relu"][0] == "openvino"
    rng = np.random.default_rng(11)
    feed = {
        "x": rng.standard_normal((1, 2, 5, 16)).astype(np.float32),
        "cos": rng.standard_normal((64, 8)).astype(np.float32),
        "sin": rng.standard_normal((64, 8)).astype(np.float32),
        "pos": rng.integers(0, 64, (1, 5)),
    }
    _assert_like_reference(model, session, feed)


def test_edge_values_catch_a_cast_that_loses_infinity(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 5])
    y = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [3, 5])
    nodes = [helper.make_node("Neg", ["x"], ["n"]), helper.make_node("Cast", ["n"], ["y"], to=TensorProto.DOUBLE)]
    model = _model(nodes, [x], [y])
    result, session = compile_and_load(model, tmp_path, validate_edge_values=True)
    assert _placements(result.manifest)["Cast"] == ("fallback", "validation")
    assert _placements(result.manifest)["Neg"][0] == "openvino"  # agrees on inf and nan: stays
    feed = {"x": np.array([[1.5, np.inf, -np.inf, np.nan, 0.0]] * 3, dtype=np.float32)}
    got = session.run(None, feed)[0]
    assert np.isposinf(got[0, 2]) and np.isneginf(got[0, 1])
    _assert_like_reference(model, session, feed)


def test_whole_range_integers_catch_shifts_beyond_the_bit_width(tmp_path):
    a = helper.make_tensor_value_info("a", TensorProto.UINT32, [8])
    b = helper.make_tensor_value_info("b", TensorProto.UINT32, [8])
    y = helper.make_tensor_value_info("y", TensorProto.UINT32, [8])
    model = _model([helper.make_node("BitShift", ["a", "b"], ["y"], direction="LEFT")], [a, b], [y])
    # the shift as OpenVINO computes it, without the rewrite that mends it (passes/openvino_defects.py)
    result, session = compile_and_load(
        model, tmp_path, validate_edge_values=True, disable_passes=["guard_openvino_defects"]
    )
    assert _placements(result.manifest)["BitShift"] == ("fallback", "validation")
    feed = {"a": np.arange(1, 9, dtype=np.uint32), "b": np.array([0, 1, 31, 32, 33, 40, 64, 2], dtype=np.uint32)}
    _assert_like_reference(model, session, feed)


def test_what_openvino_gets_right_stays_on_openvino(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 4, 4])
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.linspace(-1, 1, 108).tolist())
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[2, 2]),
    ]
    model = _model(nodes, [x], [y])
    model.graph.initializer.append(weight)
    result, session = compile_and_load(model, tmp_path, validate=True)
    assert {kind for kind, _ in _placements(result.manifest).values()} == {"openvino"}
    _assert_like_reference(model, session, {"x": np.random.default_rng(3).standard_normal((2, 3, 8, 8), np.float32)})


def test_an_identity_partition_whose_blob_renames_its_input_is_fed_by_position(tmp_path):
    # Exported and imported, an identity Einsum's one input port carries only its output's name.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    model = _model([helper.make_node("Einsum", ["x"], ["y"], equation="ij->ij")], [x], [y])
    result, session = compile_and_load(model, tmp_path)
    assert result.manifest.partitions[0].kind == "openvino"
    feed = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    np.testing.assert_array_equal(session.run(None, feed)[0], feed["x"])


def test_float8_tensors_never_cross_into_openvino(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT8E4M3FN, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    scale = helper.make_tensor("scale", TensorProto.FLOAT, [], [0.5])
    nodes = [helper.make_node("DequantizeLinear", ["x", "scale"], ["d"]), helper.make_node("Relu", ["d"], ["y"])]
    model = _model(nodes, [x], [y], opset=21)
    model.graph.initializer.append(scale)
    result, session = compile_and_load(model, tmp_path)
    assert _placements(result.manifest)["DequantizeLinear"][0] == "fallback"
    assert _placements(result.manifest)["Relu"][0] == "openvino"
    float8 = onnx.helper.tensor_dtype_to_np_dtype(TensorProto.FLOAT8E4M3FN)
    feed = {"x": np.array([0.5, 448.0, -104.0, 3.0], dtype=float8)}
    _assert_like_reference(model, session, feed)


def test_edge_sets_hold_every_edge_value_and_whole_range_integers_only_for_arithmetic():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])
    small = helper.make_tensor_value_info("small", TensorProto.INT8, [4, 8])
    reps = helper.make_tensor_value_info("reps", TensorProto.INT64, [2])
    nodes = [
        helper.make_node("Sub", ["small", "small"], ["s"]),
        helper.make_node("Tile", ["x", "reps"], ["t"]),
    ]
    out = [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in ("s", "t")]
    feed = samples.edge_inputs(_model(nodes, [x, small, reps], out))
    assert np.isnan(feed["x"]).any() and np.isposinf(feed["x"]).any() and np.isneginf(feed["x"]).any()
    assert feed["small"].min() == -128 and feed["small"].max() == 127 and 8 in feed["small"]
    assert 0 <= feed["reps"].min() and feed["reps"].max() < 4  # a count: kept small


def test_a_dropout_openvino_turns_into_a_renamed_input_runs_in_the_fallback(tmp_path):
    # The ONNX frontend makes an inference Dropout a parameter feeding a result, named after the output.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    ratio = helper.make_tensor_value_info("ratio", TensorProto.FLOAT, [])
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("kept", "relu")]
    nodes = [helper.make_node("Dropout", ["x", "ratio"], ["kept"]), helper.make_node("Relu", ["x"], ["relu"])]
    model = _model(nodes, [x, ratio], outputs, opset=13)
    result, session = compile_and_load(model, tmp_path)
    assert _placements(result.manifest)["Dropout"][0] == "fallback"
    assert _placements(result.manifest)["Relu"][0] == "openvino"
    feed = {"x": np.array([[1, -2, 3], [-4, 5, -6]], dtype=np.float32), "ratio": np.array(0.5, dtype=np.float32)}
    kept, relu = session.run(None, feed)
    np.testing.assert_array_equal(kept, feed["x"])
    np.testing.assert_array_equal(relu, np.maximum(feed["x"], 0))


def _batchnorm_opset9_model() -> onnx.ModelProto:
    rng = np.random.default_rng(9)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 6, 6])
    nodes = [
        helper.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["b"], epsilon=1e-5),
        helper.make_node("Relu", ["b"], ["y"]),
    ]
    model = _model(nodes, [x], [y], opset=9)
    for name, values in (
        ("scale", rng.uniform(0.5, 1.5, 4)),
        ("bias", rng.normal(0, 0.1, 4)),
        ("mean", rng.normal(0, 0.5, 4)),
        ("var", rng.uniform(0.5, 1.5, 4)),
    ):
        model.graph.initializer.append(onnx.numpy_helper.from_array(values.astype(np.float32), name))
    return model


@pytest.mark.parametrize("options", [{"validate": True}, {"force_fallback": ["BatchNormalization"]}])
def test_batchnorm_9_is_inference_in_validation_and_in_the_fallback(tmp_path, options):
    # onnx.reference 1.23 mixes the batch's statistics into BatchNormalization-9 (momentum defaults to 0.9)
    model = _batchnorm_opset9_model()
    result, session = compile_and_load(model, tmp_path, **options)
    expected_kind = "fallback" if "force_fallback" in options else "openvino"
    assert _placements(result.manifest)["BatchNormalization"][0] == expected_kind
    feed = {"x": np.random.default_rng(1).standard_normal((2, 4, 6, 6)).astype(np.float32) * 3 + 1}
    (want,) = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feed)
    np.testing.assert_allclose(session.run(None, feed)[0], want, rtol=1e-5, atol=1e-5)
