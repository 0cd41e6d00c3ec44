"""ovaot.engines.ov_c, the ctypes binding the loader runs on, gives what OpenVINO's Python API gives."""

from __future__ import annotations

import numpy as np
import openvino as ov
import pytest
from onnx import TensorProto, helper

from ovaot.engines import ov_c


def _blob() -> bytes:
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
        helper.make_tensor_value_info("k", TensorProto.INT64, []),
        helper.make_tensor_value_info("flags", TensorProto.BOOL, ["n"]),
        helper.make_tensor_value_info("h", TensorProto.FLOAT16, [4]),
    ]
    nodes = [
        helper.make_node("Cast", ["k"], ["kf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "kf"], ["scaled"]),
        helper.make_node("ReduceSum", ["scaled"], ["total"], keepdims=0),
        helper.make_node("Not", ["flags"], ["negated"]),
        helper.make_node("NonZero", ["flags"], ["where"]),
        helper.make_node("Add", ["k", "k"], ["twice"]),
        helper.make_node("Neg", ["h"], ["h_neg"]),
    ]
    outputs = [
        helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
        helper.make_tensor_value_info("negated", TensorProto.BOOL, ["n"]),
        helper.make_tensor_value_info("where", TensorProto.INT64, [1, None]),
        helper.make_tensor_value_info("twice", TensorProto.INT64, []),
        helper.make_tensor_value_info("h_neg", TensorProto.FLOAT16, [4]),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "types", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)]
    )
    core = ov.Core()
    blob = core.compile_model(
        core.read_model(model.SerializeToString(), ov.Tensor(np.empty(0, np.uint8))), "CPU"
    ).export_model()
    return blob.getvalue() if hasattr(blob, "getvalue") else bytes(blob)


def test_results_types_and_shapes_equal_the_python_api_including_scalars_and_dynamic_shapes():
    blob = _blob()
    python_request = ov.Core().import_model(blob, "CPU").create_infer_request()
    compiled = ov_c.Core().import_model(memoryview(blob), "CPU")
    assert [sorted(p.names) for p in compiled.inputs] == [["x"], ["k"], ["flags"], ["h"]]
    request = compiled.create_infer_request()
    rng = np.random.default_rng(4)
    for n in (5, 0, 9):  # the dynamic dimension changes between runs, down to empty
        feed = [
            rng.standard_normal((2, 3)).astype(np.float32),
            np.array(n - 3, dtype=np.int64),
            rng.random(n) < 0.5,
            rng.standard_normal(4).astype(np.float16),
        ]
        want = python_request.infer(feed).to_tuple()
        got = request.infer(feed)
        for w, g in zip(want, got):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)


def test_a_failing_call_raises_with_openvinos_message():
    with pytest.raises(RuntimeError, match="ov_core_import_model failed"):
        ov_c.Core().import_model(b"not a compiled model", "CPU")


def _affine_blob() -> bytes:
    """y = 2x + 1 over a float input of any 2-D shape."""
    model = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Mul", ["x", "two"], ["doubled"]),
                helper.make_node("Add", ["doubled", "one"], ["y"]),
            ],
            "affine",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", "m"])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", "m"])],
            [
                helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
                helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
            ],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    core = ov.Core()
    blob = core.compile_model(core.read_model(model.SerializeToString(), ov.Tensor(np.empty(0, np.uint8))), "CPU")
    exported = blob.export_model()
    return exported.getvalue() if hasattr(exported, "getvalue") else bytes(exported)


def test_a_request_reused_across_copied_and_shared_feeds_of_changing_shapes_computes_each_feed():
    request = ov_c.Core().import_model(_affine_blob(), "CPU").create_infer_request()
    rng = np.random.default_rng(7)
    large_rows = ov_c.InferRequest.COPY_LIMIT // (4 * 64) + 3  # past the copy limit: shared in place
    shapes = [(3, 5), (3, 5), (4, 5), (large_rows, 64), (3, 5), (0, 5), (large_rows, 64), (2, 2)]
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        (y,) = request.infer([x])
        np.testing.assert_array_equal(y, 2 * x + 1)
    transposed = rng.standard_normal((6, 4)).astype(np.float32).T  # not C-contiguous
    np.testing.assert_array_equal(request.infer([transposed])[0], 2 * transposed + 1)


def test_a_copied_feed_may_change_after_start_async():
    request = ov_c.Core().import_model(_affine_blob(), "CPU").create_infer_request()
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = 2 * x + 1
    request.start_async([x])
    x[:] = -100  # the request copied the small feed in before starting
    request.wait()
    np.testing.assert_array_equal(request.outputs()[0], want)
