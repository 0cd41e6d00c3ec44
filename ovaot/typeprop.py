"""Fill in element types that ONNX shape inference left unknown, from the operator schemas alone."""

from __future__ import annotations

import onnx
from onnx import ModelProto, TypeProto, helper

_TENSOR_TYPES = {
    f"tensor({onnx.helper.tensor_dtype_to_string(t).removeprefix('TensorProto.').lower()})": t
    for t in onnx.helper.get_all_tensor_dtypes()
}


def _opset_versions(model: ModelProto) -> dict[str, int]:
    return {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import}


def complete_element_types(model: ModelProto) -> int:
    """Add value_info with an element type (rank unknown) for node outputs whose type the schema fixes.

    An output typed by a constraint that allows one type, or by a constraint an input of known type
    binds, gets that type. Returns how many value_infos were added.
    """
    graph = model.graph
    known: dict[str, TypeProto] = {v.name: v.type for v in [*graph.input, *graph.value_info, *graph.output]}
    known.update({t.name: helper.make_tensor_type_proto(t.data_type, None) for t in graph.initializer})
    versions = _opset_versions(model)
    added = 0
    for node in graph.node:
        missing = [o for o in node.output if o and o not in known]
        if not missing:
            continue
        try:
            schema = onnx.defs.get_schema(node.op_type, versions.get(node.domain, 1), node.domain)
        except onnx.defs.SchemaError:
            continue
        bound: dict[str, TypeProto] = {}
        for formal, actual in zip(schema.inputs, node.input):
            if actual in known:
                bound.setdefault(formal.type_str, known[actual])
        allowed = {c.type_param_str: c.allowed_type_strs for c in schema.type_constraints}
        for formal, actual in zip(schema.outputs, node.output):
            if actual not in missing:
                continue
            type_proto = bound.get(formal.type_str)
            if type_proto is None:
                choices = allowed.get(formal.type_str, [formal.type_str])
                if len(choices) == 1 and choices[0] in _TENSOR_TYPES:
                    type_proto = helper.make_tensor_type_proto(_TENSOR_TYPES[choices[0]], None)
            if type_proto is not None:
                graph.value_info.append(helper.make_value_info(actual, type_proto))
                known[actual] = type_proto
                added += 1
    return added
