"""Dimensions declared as -1 or 0 (PaddlePaddle, some TensorFlow exporters) are dynamic, as onnxruntime reads -1."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper

import ovaot

from helpers import compile_and_load


def _conv_net(dynamic: int) -> onnx.ModelProto:
    """Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, every dynamic dimension declared as `dynamic`."""
    rng = np.random.default_rng(7)
    weights = [
        numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.standard_normal((8, 5)).astype(np.float32), "fc_w"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "fc_w"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "paddle_style",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [dynamic, 3, dynamic, dynamic])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dynamic, 5])],
        weights,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _branchy(dynamic: int) -> onnx.ModelProto:
    """An If whose branches declare their outputs with `dynamic` dimensions: x * 2 or x + 1."""
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")

    def branch(op: str, name: str) -> onnx.GraphProto:
        out = helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, [dynamic, 4])
        return helper.make_graph([helper.make_node(op, ["x", "two"], [f"{name}_out"])], name, [], [out])

    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch("Mul", "then"), else_branch=branch("Add", "els"))
    graph = helper.make_graph(
        [node],
        "branchy",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [dynamic, 4]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dynamic, 4])],
        [two],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _onnxruntime(model: onnx.ModelProto) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _cleared(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with its 0 dimensions cleared: what onnxruntime needs to run feeds of other sizes (it reads
    a declared 0 as a fixed size), as the oracle for the 0 case."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graphs = [copy.graph]
    while graphs:
        graph = graphs.pop()
        graphs += [a.g for node in graph.node for a in node.attribute if a.HasField("g")]
        for value in (*graph.input, *graph.output):
            for dim in value.type.tensor_type.shape.dim:
                if dim.HasField("dim_value") and dim.dim_value == 0:
                    dim.Clear()
    assert copy != model
    return copy


def test_minus_one_dims_are_dynamic_at_two_batch_sizes_against_onnxruntime(tmp_path: Path):
    model = _conv_net(-1)
    result, session = compile_and_load(model, tmp_path)
    oracle = _onnxruntime(model)
    assert [i.shape for i in oracle.get_inputs()] == [[None, 3, None, None]]  # what onnxruntime says
    assert [i.shape for i in session.get_inputs()] == [[None, 3, None, None]]
    assert [o.shape for o in session.get_outputs()] == [[None, 5]]
    assert result.manifest.inputs[0].shape == [None, 3, None, None]
    rng = np.random.default_rng(0)
    for shape in [(1, 3, 48, 192), (3, 3, 20, 24)]:
        x = rng.standard_normal(shape).astype(np.float32)
        (got,) = session.run(None, {"x": x})
        np.testing.assert_allclose(got, oracle.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_zero_dims_are_dynamic_too(tmp_path: Path):
    model = _conv_net(0)
    _, session = compile_and_load(model, tmp_path)
    assert [i.shape for i in session.get_inputs()] == [[None, 3, None, None]]
    oracle = _onnxruntime(_cleared(model))
    rng = np.random.default_rng(1)
    for shape in [(2, 3, 16, 16), (5, 3, 9, 7)]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(session.run(None, {"x": x})[0], oracle.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dynamic", [-1, 0])
def test_subgraph_outputs_declared_non_positive_are_dynamic(dynamic: int, tmp_path: Path):
    model = _branchy(dynamic)
    _, session = compile_and_load(model, tmp_path)
    oracle = _onnxruntime(_cleared(model) if dynamic == 0 else model)
    for batch, cond in [(1, True), (6, False)]:
        feed = {"cond": np.array(cond), "x": np.arange(batch * 4, dtype=np.float32).reshape(batch, 4)}
        np.testing.assert_allclose(session.run(None, feed)[0], oracle.run(None, feed)[0])


def test_validation_runs_on_a_model_with_minus_one_dims(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING):
        result = ovaot.compile(_conv_net(-1), "CPU_FP32", tmp_path / "m.ovpkg", validate=True)
    assert not [r for r in caplog.records if "skipped" in r.getMessage()], caplog.text
    assert [p.kind for p in result.manifest.partitions] == ["openvino"]


def test_a_package_whose_manifest_records_minus_one_reads_it_as_dynamic(tmp_path: Path):
    """Packages built before ovaot read -1 as dynamic recorded the declared sizes in their manifests."""
    from dataclasses import replace

    from ovaot.format.manifest import ValueInfo
    from ovaot.format.package import PackageReader, write_package

    model = _conv_net(-1)
    package = tmp_path / "old.ovpkg"
    ovaot.compile(model, "CPU_FP32", package)
    with PackageReader(package) as reader:
        manifest = reader.manifest
        members = {name: reader.read(name) for name in manifest.members}
    old = replace(manifest, inputs=[ValueInfo("x", "tensor(float)", [-1, 3, -1, -1])])
    write_package(package, old, members)
    assert '"shape": [\n        -1,' in old.to_json()  # what such a package holds

    session = ovaot.load(package)
    assert [i.shape for i in session.get_inputs()] == [[None, 3, None, None]]
    oracle = _onnxruntime(model)
    rng = np.random.default_rng(2)
    for shape in [(1, 3, 10, 12), (4, 3, 6, 6)]:
        x = rng.standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(session.run(None, {"x": x})[0], oracle.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)
