"""Type inference (ovaot.compiler.type_inference) and the manifest's view of ONNX types (ovaot.compiler.value_info),
checked against what onnx.reference computes and what onnxruntime reports."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from ovaot.compiler.type_inference import complete_element_types, refine_if_shapes
from ovaot.compiler.value_info import shape_of, type_string, value_info

OPSETS = [helper.make_opsetid("", 18), helper.make_opsetid("my.domain", 1)]


class Twice(OpRun):
    """my.domain.Twice, an op no schema describes: shape inference knows nothing of its output."""

    op_domain = "my.domain"

    def _run(self, x):
        return (x * 2,)


def _model(nodes, inputs, outputs, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=OPSETS, ir_version=8)


def _after_an_unknown_op() -> onnx.ModelProto:
    """x -> Twice -> c (type unknown), then ops of c whose output type the schema fixes, or does not."""
    nodes = [
        helper.make_node("Twice", ["x"], ["c"], domain="my.domain"),
        helper.make_node("Shape", ["c"], ["shape"]),  # always int64
        helper.make_node("Equal", ["c", "c"], ["same"]),  # always bool
        helper.make_node("NonZero", ["c"], ["where"]),  # always int64
        helper.make_node("Relu", ["c"], ["relu"]),  # the type of c, which nothing says
        helper.make_node("Add", ["x", "x"], ["sum"]),  # the type of x
        helper.make_node("Identity", ["shape"], ["out"]),
    ]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])]
    return _model(nodes, inputs, [helper.make_tensor_value_info("out", TensorProto.INT64, [2])])


def _reference_dtypes(model: onnx.ModelProto, names: list[str], feed: dict) -> dict[str, np.dtype]:
    """The dtype onnx.reference computes for each named value of the model."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend(onnx.ValueInfoProto(name=n) for n in names)
    results = ReferenceEvaluator(probe, new_ops=[Twice]).run(None, feed)
    return {name: np.asarray(value).dtype for name, value in zip(names, results)}


def test_element_types_the_schema_fixes_are_added_as_onnx_reference_computes_them():
    model = _after_an_unknown_op()
    added = complete_element_types(model)
    types = {v.name: v.type.tensor_type for v in model.graph.value_info}
    assert added == len(types) == 4 and set(types) == {"shape", "same", "where", "sum"}
    feed = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    computed = _reference_dtypes(model, sorted(types), feed)
    for name, tensor_type in types.items():
        assert helper.tensor_dtype_to_np_dtype(tensor_type.elem_type) == computed[name], name


def test_an_added_type_has_no_shape_since_the_schema_fixes_only_the_element_type():
    nodes = [
        helper.make_node("Twice", ["y"], ["c"], domain="my.domain"),
        helper.make_node("Add", ["c", "x"], ["sum"]),  # broadcasts [2, 3] with [1, 3]
        helper.make_node("Relu", ["sum"], ["out"]),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3]),
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
    ]
    model = onnx.shape_inference.infer_shapes(_model(nodes, inputs, [onnx.ValueInfoProto(name="out")]))
    assert complete_element_types(model) == 1
    (added,) = [v for v in model.graph.value_info if v.name == "sum"]
    feed = {"x": np.ones((1, 3), np.float32), "y": np.ones((2, 3), np.float32)}
    probe = ReferenceEvaluator(_model(nodes, inputs, [onnx.ValueInfoProto(name="sum")]), new_ops=[Twice])
    assert probe.run(None, feed)[0].shape == (2, 3)
    assert shape_of(added.type) in (None, [2, 3])


def test_nothing_is_added_where_every_output_is_typed_already():
    model = onnx.shape_inference.infer_shapes(_after_an_unknown_op())
    model.graph.value_info.extend(
        helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("c", "relu", "same", "where", "sum")
    )
    before = {v.name for v in model.graph.value_info}
    assert complete_element_types(model) == 0 and {v.name for v in model.graph.value_info} == before


def _if_model(then_nodes, else_nodes, initializers=()) -> onnx.ModelProto:
    """y = If(cond) of two branches whose output is declared with an element type only, then z = Relu(y)."""

    def branch(name: str, nodes) -> onnx.GraphProto:
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, None)])

    nodes = [
        helper.make_node(
            "If", ["cond"], ["y"], then_branch=branch("then", then_nodes), else_branch=branch("else", else_nodes)
        ),
        helper.make_node("Relu", ["y"], ["z"]),
    ]
    inputs = [
        helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
    ]
    return _model(nodes, inputs, [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], initializers)


def _declared_shape(model: onnx.ModelProto, name: str) -> list[int] | None:
    found = [v for v in model.graph.value_info if v.name == name]
    return shape_of(found[0].type) if found else None


def _reference_shapes(model: onnx.ModelProto) -> set[tuple[int, ...]]:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    evaluator = ReferenceEvaluator(model)
    return {evaluator.run(None, {"cond": np.array(c), "x": x})[0].shape for c in (True, False)}


def test_an_if_whose_branches_agree_gets_their_shape_as_onnx_reference_computes_it():
    model = _if_model(
        [helper.make_node("Add", ["x", "x"], ["then_y"])], [helper.make_node("Mul", ["x", "x"], ["else_y"])]
    )
    assert refine_if_shapes(model) == 1
    (computed,) = _reference_shapes(model)
    assert _declared_shape(model, "y") == list(computed)


def test_a_branch_reading_a_small_outer_constant_is_inferred_with_its_value():
    shape = numpy_helper.from_array(np.array([3, 2], np.int64), "new_shape")
    model = _if_model(
        [helper.make_node("Reshape", ["x", "new_shape"], ["then_y"])],
        [helper.make_node("Transpose", ["x"], ["else_y"])],
        [shape],
    )
    assert refine_if_shapes(model) == 1
    (computed,) = _reference_shapes(model)
    assert _declared_shape(model, "y") == list(computed) == [3, 2]


def test_an_if_whose_branches_disagree_is_left_unranked():
    model = _if_model(
        [helper.make_node("Transpose", ["x"], ["then_y"])], [helper.make_node("Identity", ["x"], ["else_y"])]
    )
    assert len(_reference_shapes(model)) == 2  # the shape depends on cond
    assert refine_if_shapes(model) == 0 and _declared_shape(model, "y") is None


def _typed_inputs() -> tuple[onnx.ModelProto, list[onnx.ValueInfoProto]]:
    tensor = helper.make_tensor_value_info
    inputs = [
        tensor("f", TensorProto.FLOAT, ["N", 3, None]),
        tensor("d", TensorProto.DOUBLE, [2]),
        tensor("i", TensorProto.INT64, []),
        tensor("b", TensorProto.BOOL, [1]),
        tensor("h", TensorProto.FLOAT16, [1]),
        tensor("s", TensorProto.STRING, [1]),
        helper.make_value_info(
            "q", helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, None))
        ),
        helper.make_value_info(
            "o", helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, [2]))
        ),
    ]
    map_input = helper.make_value_info(
        "m", helper.make_map_type_proto(TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, None))
    )
    nodes = [helper.make_node("Identity", [v.name], [f"{v.name}_out"]) for v in inputs]
    nodes.append(helper.make_node("DictVectorizer", ["m"], ["m_out"], domain="ai.onnx.ml", int64_vocabulary=[1, 2]))
    outputs = [helper.make_value_info(f"{v.name}_out", v.type) for v in inputs]
    outputs.append(tensor("m_out", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "g", [*inputs, map_input], outputs)
    opsets = [helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8), [*inputs, map_input]


def test_types_and_tensor_shapes_read_as_onnxruntime_reports_them():
    model, inputs = _typed_inputs()
    reported = {i.name: i for i in ort.InferenceSession(model.SerializeToString()).get_inputs()}
    for value in inputs:
        info = value_info(value)
        assert info.name == value.name and info.type == reported[value.name].type, value.name
        if value.type.HasField("tensor_type"):
            assert info.shape == reported[value.name].shape, value.name
        else:
            assert info.shape is None  # no tensor shape to give


@pytest.mark.parametrize(
    ("dims", "expected"),
    [
        ([-1, 3], [None, 3]),  # PaddlePaddle's and some converters' dynamic dimension
        ([0, 3], [None, 3]),
        (["batch", 3], ["batch", 3]),
        (["unk__0", 3], [None, 3]),  # a name onnx's shape inference made up, not the model's
    ],
)
def test_dynamic_dimensions_are_none_and_named_ones_keep_their_name(dims, expected):
    type_proto = helper.make_tensor_type_proto(TensorProto.FLOAT, dims)
    assert shape_of(type_proto) == expected


def test_a_tensor_of_unknown_rank_has_no_shape_and_an_unset_type_is_unknown():
    assert shape_of(helper.make_tensor_type_proto(TensorProto.FLOAT, None)) is None
    assert type_string(onnx.TypeProto()) == "unknown"
