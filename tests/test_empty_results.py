"""Empty results stay empty: detection post-processing as torchvision exports it, with and without detections.

OpenVINO 2026.4 returns one element of garbage where an If's branch returns a zero-element constant, so a
detector with no box over its threshold returned one box of uninitialised memory. guard_openvino_defects
rewrites such branches; validation's all-zero sample set catches the class where the rewrite is turned off.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import openvino as ov
import pytest
from onnx import TensorProto, helper, numpy_helper

from ovaot.format.manifest import PartitionKind, SupportSource

from detection_models import postprocess_inputs, torchvision_postprocess
from helpers import compile_and_load


def _onnxruntime(model, feed):
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def test_openvino_still_returns_one_garbage_element_for_an_empty_branch():
    # The defect. When a new OpenVINO fixes it this fails; the rewrite can then be limited to older versions.
    # (The If's output alone: gathering boxes by the garbage index, as post-processing does, can crash.)
    model = _kept_indices_model()
    core = ov.Core()
    compiled = core.compile_model(core.read_model(model.SerializeToString()), "CPU")
    results = compiled.create_infer_request().infer({"scores": np.array([0.1, 0.2], np.float32)})
    assert results[compiled.outputs[0]].shape == (1,), f"OpenVINO {ov.get_version()} returns the empty branch empty"


@pytest.mark.parametrize("passing", [0, 1, 7], ids=["none", "one", "several"])
@pytest.mark.parametrize(
    "count", [12, pytest.param(1, marks=pytest.mark.slow), pytest.param(40, marks=pytest.mark.slow)]
)
def test_detections_match_onnxruntime_with_and_without_any(tmp_path, count, passing):
    passing = min(passing, count)
    model = torchvision_postprocess()
    result, session = compile_and_load(model, tmp_path)
    assert "guard_openvino_defects" in result.manifest.rewrites
    assert all(p.kind == PartitionKind.OPENVINO for p in result.manifest.partitions)
    feed = postprocess_inputs(count, passing)
    want = _onnxruntime(model, feed)
    got = session.run(None, feed)
    for w, g in zip(want, got):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6)
    if passing == 0:
        assert [g.shape[0] for g in got] == [0, 0, 0, 0]


def _kept_indices_model() -> onnx.ModelProto:
    """scores (N,) -> the indices over 0.5, through an If whose branch for "none" is an empty constant."""
    empty = helper.make_graph(
        [helper.make_node("Constant", [], ["no_index"], value=numpy_helper.from_array(np.zeros(0, np.int64)))],
        "none",
        [],
        [helper.make_tensor_value_info("no_index", TensorProto.INT64, [0])],
    )
    some = helper.make_graph(
        [helper.make_node("Reshape", ["passing", "flat"], ["some_index"])],
        "some",
        [],
        [helper.make_tensor_value_info("some_index", TensorProto.INT64, [None])],
    )
    nodes = [
        helper.make_node("Greater", ["scores", "threshold"], ["passes"]),
        helper.make_node("NonZero", ["passes"], ["passing"]),
        helper.make_node("ReduceMax", ["passes_as_number"], ["best"], keepdims=0),
        helper.make_node("Cast", ["passes"], ["passes_as_number"], to=TensorProto.FLOAT),
        helper.make_node("Equal", ["best", "zero"], ["none"]),
        helper.make_node("If", ["none"], ["kept"], then_branch=empty, else_branch=some),
    ]
    nodes.insert(2, nodes.pop(3))  # Cast before ReduceMax
    graph = helper.make_graph(
        nodes,
        "kept_indices",
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N"])],
        [helper.make_tensor_value_info("kept", TensorProto.INT64, ["D"])],
        [
            numpy_helper.from_array(np.array(0.5, np.float32), "threshold"),
            numpy_helper.from_array(np.array([-1], np.int64), "flat"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_validation_catches_the_class_where_the_rewrite_is_off(tmp_path):
    # Without the rewrite, the all-zero sample set (no score passes) shows the If's garbage element. (Gathering
    # by that garbage index, as the full post-processing does, can crash OpenVINO: the rewrite is on by default.)
    model = _kept_indices_model()
    result, session = compile_and_load(model, tmp_path, validate=True, disable_passes=["guard_openvino_defects"])
    sources = {n.op_type: (p.kind, n.source) for p in result.manifest.partitions for n in p.nodes}
    assert sources["If"] == (PartitionKind.FALLBACK, SupportSource.VALIDATION)
    for scores in (np.array([0.1, 0.2], np.float32), np.array([0.7, 0.2, 0.9], np.float32)):
        want = _onnxruntime(model, {"scores": scores})[0]
        np.testing.assert_array_equal(session.run(None, {"scores": scores})[0], want)
