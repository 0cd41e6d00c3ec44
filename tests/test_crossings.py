"""A lone data-movement op between two fallback partitions joins the fallback instead of costing two crossings."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from ovaot.format.manifest import PartitionKind, SupportSource

from helpers import compile_and_load


def sandwich(middle: str, middle_is_output: bool = False) -> onnx.ModelProto:
    """x (2, 8) -> Neg -> `middle` -> Neg -> y; with `middle_is_output`, the middle result is an output too."""
    inputs = {"Unsqueeze": ["n1", "axes"], "Reshape": ["n1", "shape"], "Relu": ["n1"], "Transpose": ["n1"]}[middle]
    nodes = [
        helper.make_node("Neg", ["x"], ["n1"]),
        helper.make_node(middle, inputs, ["m"]),
        helper.make_node("Neg", ["m"], ["y"]),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if middle_is_output:
        outputs.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, None))
    graph = helper.make_graph(
        nodes,
        "sandwich",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        outputs,
        [
            numpy_helper.from_array(np.array([0], np.int64), "axes"),
            numpy_helper.from_array(np.array([4, 4], np.int64), "shape"),
        ],
    )
    return onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def _kinds(manifest) -> list[str]:
    return [p.kind for p in manifest.partitions]


def _matches_reference(model, session) -> None:
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    for want, got in zip(ReferenceEvaluator(model).run(None, {"x": x}), session.run(None, {"x": x})):
        np.testing.assert_array_equal(got, want)


def test_a_lone_data_movement_op_between_fallbacks_joins_them(tmp_path):
    for middle in ("Unsqueeze", "Reshape", "Transpose"):
        model = sandwich(middle)
        result, session = compile_and_load(model, tmp_path, force_fallback=["Neg"], force=True)
        assert _kinds(result.manifest) == [PartitionKind.FALLBACK], middle
        [placement] = [n for n in result.manifest.partitions[0].nodes if n.op_type == middle]
        assert placement.source == SupportSource.CROSSING and "two crossings" in placement.reason
        _matches_reference(model, session)


def test_compute_and_outputs_stay_on_the_device(tmp_path):
    for model in (sandwich("Relu"), sandwich("Unsqueeze", middle_is_output=True)):
        result, session = compile_and_load(model, tmp_path, force_fallback=["Neg"], force=True)
        assert _kinds(result.manifest) == [PartitionKind.FALLBACK, PartitionKind.OPENVINO, PartitionKind.FALLBACK]
        _matches_reference(model, session)
