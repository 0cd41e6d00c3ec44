"""ONNX ValueInfoProto -> the manifest's ValueInfo (onnxruntime-style type string, symbolic shape)."""

from __future__ import annotations

import onnx
from onnx import TensorShapeProto, TypeProto

from ovaot.format.manifest import Dim, ValueInfo

INFERRED_DIM_PREFIX = "unk__"  # onnx.shape_inference names the dimensions it cannot size unk__0, unk__1, ...


def tensor_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The graph inputs fed at run time that are tensors (not initializers listed as inputs)."""
    weights = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in weights and v.type.HasField("tensor_type")]


def type_string(t: TypeProto) -> str:
    """The type as onnxruntime names it: tensor(float), seq(tensor(int64)), optional(...), map(...)."""
    kind = t.WhichOneof("value")
    if kind == "tensor_type":
        return f"tensor({_elem_name(t.tensor_type.elem_type)})"
    if kind == "sparse_tensor_type":
        return f"sparse_tensor({_elem_name(t.sparse_tensor_type.elem_type)})"
    if kind == "sequence_type":
        return f"seq({type_string(t.sequence_type.elem_type)})"
    if kind == "optional_type":
        return f"optional({type_string(t.optional_type.elem_type)})"
    if kind == "map_type":
        return f"map({_elem_name(t.map_type.key_type)},{type_string(t.map_type.value_type)})"
    return "unknown"


def _elem_name(elem_type: int) -> str:
    if elem_type == onnx.TensorProto.UNDEFINED:
        return "undefined"
    name = onnx.TensorProto.DataType.Name(elem_type).lower()
    return {"float": "float", "double": "double"}.get(name, name)


def shape_of(t: TypeProto) -> list[Dim] | None:
    """The shape, symbolic dimensions by name and dynamic ones as None: unnamed, declared -1 or 0, or named by
    onnx's shape inference ("unk__0"), a name the model never gave."""
    if t.WhichOneof("value") != "tensor_type" or not t.tensor_type.HasField("shape"):
        return None
    return [_dim(d) for d in t.tensor_type.shape.dim]


def _dim(d: TensorShapeProto.Dimension) -> Dim:
    if d.dim_value > 0:
        return d.dim_value
    return None if not d.dim_param or d.dim_param.startswith(INFERRED_DIM_PREFIX) else d.dim_param


def value_info(v: onnx.ValueInfoProto) -> ValueInfo:
    return ValueInfo(name=v.name, type=type_string(v.type), shape=shape_of(v.type))
