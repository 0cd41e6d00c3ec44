"""Control flow: an If OpenVINO cannot read runs in the fallback with its branches, the rest stays on OpenVINO.

The models are built here with seeded weights; results are compared with onnxruntime on inputs that take
each branch (or each trip count).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

from helpers import compile_and_load


def _unranked(name: str) -> onnx.ValueInfoProto:
    """A branch output as exporters often declare it: an element type, no shape."""
    return helper.make_value_info(name, helper.make_tensor_type_proto(TensorProto.FLOAT, shape=None))


def if_model() -> onnx.ModelProto:
    """Conv -> Relu, then an If on the input's mean: Det (which OpenVINO's ONNX reader rejects) or a
    ReduceMax over the same axes, then Sigmoid."""
    rng = np.random.default_rng(21)
    weights = [
        numpy_helper.from_array((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
        numpy_helper.from_array(np.array(2.0, np.float32), "two"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "axes"),
    ]
    then_branch = helper.make_graph(
        [helper.make_node("Det", ["r"], ["d"]), helper.make_node("Mul", ["d", "two"], ["t_out"])],
        "then",
        [],
        [_unranked("t_out")],
    )
    else_branch = helper.make_graph(
        [helper.make_node("ReduceMax", ["r", "axes"], ["e_out"], keepdims=0)], "else", [], [_unranked("e_out")]
    )
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
        helper.make_node("Greater", ["m", "zero"], ["positive"]),
        helper.make_node("If", ["positive"], ["chosen"], then_branch=then_branch, else_branch=else_branch),
        helper.make_node("Sigmoid", ["chosen"], ["y"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph(nodes, "if_model", [x], [y], initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def loop_model() -> onnx.ModelProto:
    """MatMul, then a Loop that applies a Tanh layer `steps` times (steps is an input), then Softmax."""
    rng = np.random.default_rng(22)
    weights = [
        numpy_helper.from_array((rng.standard_normal((8, 8)) * 0.5).astype(np.float32), "w_in"),
        numpy_helper.from_array((rng.standard_normal((8, 8)) * 0.5).astype(np.float32), "w_step"),
        numpy_helper.from_array(np.array(True), "keep_going"),
    ]
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h_in", "w_step"], ["h_lin"]),
            helper.make_node("Tanh", ["h_lin"], ["h_out"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "step",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [2, 8]),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), _unranked("h_out")],
    )
    nodes = [
        helper.make_node("MatMul", ["x", "w_in"], ["h0"]),
        helper.make_node("Loop", ["steps", "keep_going", "h0"], ["h"], body=body),
        helper.make_node("Softmax", ["h"], ["y"], axis=-1),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
        helper.make_tensor_value_info("steps", TensorProto.INT64, []),
    ]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])
    graph = helper.make_graph(nodes, "loop_model", inputs, [y], initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def loop_scan_model() -> onnx.ModelProto:
    """A Loop with a carried [2, 8] state and two scan outputs: a scalar per step and the state per step."""
    rng = np.random.default_rng(23)
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["h_in", "w_step"], ["h_lin"]),
            helper.make_node("Tanh", ["h_lin"], ["h_out"]),
            helper.make_node("ReduceSum", ["h_out"], ["total"], keepdims=0),
            helper.make_node("Identity", ["h_out"], ["h_scan"]),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "step",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [2, 8]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [2, 8]),
            helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
            _unranked("h_scan"),  # zero trips must still give (0, 2, 8)
        ],
    )
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
        helper.make_tensor_value_info("steps", TensorProto.INT64, []),
    ]
    outputs = [
        helper.make_tensor_value_info("h", TensorProto.FLOAT, [2, 8]),
        helper.make_tensor_value_info("totals", TensorProto.FLOAT, ["n"]),
        helper.make_tensor_value_info("states", TensorProto.FLOAT, ["n", 2, 8]),
    ]
    weights = [
        numpy_helper.from_array((rng.standard_normal((8, 8)) * 0.5).astype(np.float32), "w_step"),
        numpy_helper.from_array(np.array(True), "keep_going"),
    ]
    loop = helper.make_node("Loop", ["steps", "keep_going", "x"], ["h", "totals", "states"], body=body)
    graph = helper.make_graph([loop], "loop_scan", inputs, outputs, initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _kinds(manifest) -> dict[str, str]:
    return {n.op_type: p.kind for p in manifest.partitions for n in p.nodes}


def test_an_if_openvino_cannot_read_runs_in_the_fallback_and_all_around_it_on_openvino(tmp_path):
    model = if_model()
    result, session = compile_and_load(model, tmp_path)
    kinds = _kinds(result.manifest)
    assert kinds.pop("If") == "fallback"
    assert set(kinds.values()) == {"openvino"}, kinds  # Conv, Relu, ReduceMean, Greater before; Sigmoid after
    reference = onnxruntime.InferenceSession(model.SerializeToString())
    rng = np.random.default_rng(5)
    for sign in (1.0, -1.0):  # a positive mean takes the Det branch, a negative one the ReduceMax branch
        x = (np.abs(rng.standard_normal((1, 3, 8, 8))) * sign).astype(np.float32)
        np.testing.assert_allclose(
            session.run(None, {"x": x})[0], reference.run(None, {"x": x})[0], rtol=1e-4, atol=1e-6
        )


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_a_loop_model_matches_onnxruntime_for_each_trip_count(tmp_path, steps):
    model = loop_model()
    result, session = compile_and_load(model, tmp_path)
    kinds = _kinds(result.manifest)
    assert kinds["MatMul"] == kinds["Softmax"] == "openvino"
    feed = {"x": np.random.default_rng(6).standard_normal((2, 8)).astype(np.float32), "steps": np.array(steps)}
    want = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feed)[0]
    np.testing.assert_allclose(session.run(None, feed)[0], want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("steps", [0, 1, 5])
def test_a_loop_in_the_fallback_stacks_its_scan_outputs_as_onnxruntime_does(tmp_path, steps):
    # onnx.reference 1.23 alone gives (N, 1) and (2N, 8) here, and fails on zero trips (reference_fixes.Loop)
    model = loop_scan_model()
    result, session = compile_and_load(model, tmp_path, force_fallback=["Loop"])
    assert _kinds(result.manifest) == {"Loop": "fallback"}
    feed = {"x": np.random.default_rng(7).standard_normal((2, 8)).astype(np.float32), "steps": np.array(steps)}
    want = onnxruntime.InferenceSession(model.SerializeToString()).run(None, feed)
    for got, expected in zip(session.run(None, feed), want):
        assert got.shape == expected.shape and got.dtype == expected.dtype
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
