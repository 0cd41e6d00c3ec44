"""OpenVINO defects that change results, each shown on the OpenVINO at hand by a minimal model, and ovaot's answer
(a rewrite that runs on the device, or the fallback) equal to onnx.reference with default compile options.

When a new OpenVINO fixes one, its `openvino_is_wrong` assertion fails: drop the rewrite or the table entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from ovaot.format.manifest import PartitionKind

from helpers import compile_and_load


@dataclass(frozen=True)
class Case:
    model: onnx.ModelProto
    feed: dict[str, np.ndarray]
    runs_on: PartitionKind  # where ovaot's answer runs


def _model(node: onnx.NodeProto, inputs: list, output: onnx.ValueInfoProto, opset: int = 19) -> onnx.ModelProto:
    graph = helper.make_graph([node], "defect", inputs, [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 14 if opset >= 28 else 9
    onnx.checker.check_model(model, full_check=True)
    return model


def _shift(dtype: int, direction: str) -> onnx.ModelProto:
    node = helper.make_node("BitShift", ["x", "y"], ["z"], direction=direction)
    value = [helper.make_tensor_value_info(name, dtype, [4]) for name in ("x", "y")]
    return _model(node, value, helper.make_tensor_value_info("z", dtype, [4]), opset=28)  # signed types: 28


CASES = {
    "BitShift: int32 by the width or more": Case(
        _shift(TensorProto.INT32, "LEFT"),
        {"x": np.array([-8, 4, -1, 3], np.int32), "y": np.array([32, 33, 100, 2], np.int32)},
        PartitionKind.OPENVINO,
    ),
    "BitShift: int8 overflow wraps": Case(
        _shift(TensorProto.INT8, "LEFT"),
        {"x": np.array([64, 1, -64, 5], np.int8), "y": np.array([1, 7, 1, 9], np.int8)},
        PartitionKind.OPENVINO,
    ),
    "BitShift: uint8 overflow wraps": Case(
        _shift(TensorProto.UINT8, "LEFT"),
        {"x": np.array([200, 3, 255, 1], np.uint8), "y": np.array([1, 7, 4, 8], np.uint8)},
        PartitionKind.OPENVINO,
    ),
    "BitShift: uint32 by the width or more": Case(
        _shift(TensorProto.UINT32, "LEFT"),
        {"x": np.array([3_000_000_000, 3, 1, 1], np.uint32), "y": np.array([1, 31, 32, 33], np.uint32)},
        PartitionKind.OPENVINO,
    ),
    "BitShift: int64 is shifted in 32 bits": Case(
        _shift(TensorProto.INT64, "LEFT"),
        {"x": np.array([-1, 3, 1, 1], np.int64), "y": np.array([64, 63, 100, 2], np.int64)},
        PartitionKind.FALLBACK,
    ),
    "NonMaxSuppression: IoU equal to the threshold": Case(
        _model(
            helper.make_node("NonMaxSuppression", ["boxes", "scores", "most", "iou", "score"], ["selected"]),
            [
                helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, 2, 4]),
                helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, 2]),
                helper.make_tensor_value_info("most", TensorProto.INT64, [1]),
                helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
                helper.make_tensor_value_info("score", TensorProto.FLOAT, [1]),
            ],
            helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3]),
        ),
        {
            "boxes": np.array([[[0, 0, 1, 1], [0.5, 0.5, 1.5, 1.5]]], np.float32),  # IoU 0.25 / 1.75 = 1/7
            "scores": np.array([[[0.9, 0.8]]], np.float32),
            "most": np.array([3], np.int64),
            "iou": np.array([1 / 7], np.float32),
            "score": np.array([0.0], np.float32),
        },
        PartitionKind.OPENVINO,
    ),
    "Resize: align_corners by fractional scales": Case(
        _model(
            helper.make_node(
                "Resize", ["x", "", "scales"], ["y"], mode="linear", coordinate_transformation_mode="align_corners"
            ),
            [
                helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 4]),
                helper.make_tensor_value_info("scales", TensorProto.FLOAT, [4]),
            ],
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, None, None]),
        ),
        {"x": np.arange(1, 9, dtype=np.float32).reshape(1, 1, 2, 4), "scales": np.array([1, 1, 0.6, 0.6], np.float32)},
        PartitionKind.FALLBACK,
    ),
}


def _openvino(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model.SerializeToString(), ov.Tensor(np.empty(0, np.uint8))), "CPU")
    return list(compiled([feed[i.name] for i in model.graph.input]).values())


@pytest.mark.parametrize("name", CASES)
def test_openvino_is_wrong_and_ovaot_is_right(name, tmp_path):
    case = CASES[name]
    want = ReferenceEvaluator(case.model).run(None, case.feed)
    raw = _openvino(case.model, case.feed)
    assert any(r.shape != w.shape or not np.array_equal(r, w) for r, w in zip(raw, want, strict=True)), (
        f"OpenVINO {ov.get_version()} computes {name!r} right now: retire ovaot's answer to it"
    )
    _, session = compile_and_load(case.model, tmp_path, target="CPU", validate=False)
    assert [p.kind for p in session.placements] == [case.runs_on]
    got = session.run(None, case.feed)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
