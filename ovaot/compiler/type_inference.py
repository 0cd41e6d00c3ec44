"""Fill in element types and ranks that ONNX shape inference left unknown: from the operator schemas, from
the branches of an If, from a Tokenizer's attributes, and, for what no schema says, from a seeded run."""

from __future__ import annotations

import numpy as np
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
                bound.setdefault(formal.type_str, _element_type_only(known[actual]))
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


def _element_type_only(t: TypeProto) -> TypeProto:
    """A tensor type without its shape: the type parameter binds the element type, not the shape (Add
    broadcasts)."""
    if t.WhichOneof("value") == "tensor_type":
        return helper.make_tensor_type_proto(t.tensor_type.elem_type, None)
    return t


def refine_if_shapes(model: ModelProto) -> int:
    """Give an If's outputs the shape both branches agree on, where shape inference left them unranked.

    Exporters often declare branch outputs with an element type only, and ONNX's If inference keeps the
    declared type: everything downstream then has unknown rank, which the CPU plugin does not run, so it
    would all go to the fallback with the If. Each branch is inferred here on its own, as a graph whose
    inputs are the outer values it reads. Returns how many outputs were refined.
    """
    graph = model.graph
    ifs = [n for n in graph.node if n.op_type == "If" and n.domain in ("", "ai.onnx")]
    if not ifs:
        return 0  # the maps below take tens of milliseconds on a model of hundreds of weights
    known = {v.name: v for v in [*graph.input, *graph.value_info, *graph.output] if v.type.HasField("tensor_type")}
    for weight in graph.initializer:
        known.setdefault(weight.name, helper.make_tensor_value_info(weight.name, weight.data_type, weight.dims))
    # small constants (axes, shapes) go in with their values, which inference reads
    small = {t.name: t for t in graph.initializer if t.ByteSize() <= 4096}
    refined = 0
    for node in ifs:
        if all(o in known and known[o].type.tensor_type.HasField("shape") for o in node.output):
            continue
        branches = {a.name: a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH}
        shapes = [_branch_output_types(model, branches.get(b), known, small) for b in ("then_branch", "else_branch")]
        if shapes[0] is None or shapes[0] != shapes[1]:
            continue
        for name, type_proto in zip(node.output, shapes[0]):
            if type_proto.tensor_type.HasField("shape") and not (name in known and _has_shape(known[name])):
                info = helper.make_value_info(name, type_proto)
                kept = [v for v in graph.value_info if v.name != name]
                del graph.value_info[:]
                graph.value_info.extend([*kept, info])
                known[name] = info
                refined += 1
    return refined


def _has_shape(value: onnx.ValueInfoProto) -> bool:
    return value.type.tensor_type.HasField("shape")


def _branch_output_types(
    model: ModelProto, branch: onnx.GraphProto | None, known: dict, constants: dict
) -> list[TypeProto] | None:
    """The branch's output types inferred from its nodes, or None when they cannot be."""
    if branch is None:
        return None
    produced = {o for n in branch.node for o in n.output} | {t.name for t in branch.initializer}
    outer = sorted({i for n in branch.node for i in n.input if i and i not in produced})
    if any(name not in known for name in outer):
        return None
    outputs = [onnx.ValueInfoProto(name=o.name) for o in branch.output]
    inputs = [known[name] for name in outer if name not in constants]
    weights = [*branch.initializer, *(constants[name] for name in outer if name in constants)]
    standalone = helper.make_graph(list(branch.node), "branch", inputs, outputs, weights)
    try:
        inferred = onnx.shape_inference.infer_shapes(
            helper.make_model(standalone, opset_imports=model.opset_import, ir_version=model.ir_version),
            strict_mode=False,
        )
    except Exception:  # shape inference is an aid, not a gate
        return None
    types = {v.name: v.type for v in [*inferred.graph.output, *inferred.graph.value_info]}
    found = [types.get(o.name) for o in branch.output]
    return None if any(t is None for t in found) else found


def refine_tokenizer_shapes(model: ModelProto) -> int:
    """Give com.microsoft Tokenizer outputs (no ONNX schema) their type and rank: strings, one axis more than
    the input, so that shape inference can carry ranks through what follows (TfIdfVectorizer, ...) and the
    device takes it. Returns how many value_infos were added."""
    graph = model.graph
    typed = {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}
    added = 0
    for node in graph.node:
        if (node.domain, node.op_type) != ("com.microsoft", "Tokenizer") or not node.output[0]:
            continue
        source, result = typed.get(node.input[0]), typed.get(node.output[0])
        if source is None or not _has_shape(source) or (result is not None and _has_shape(result)):
            continue
        rank = len(source.type.tensor_type.shape.dim) + 1
        dims = [f"{node.output[0]}_{axis}" for axis in range(rank)]
        info = helper.make_tensor_value_info(node.output[0], onnx.TensorProto.STRING, dims)
        if result is not None and result in graph.value_info:
            graph.value_info.remove(result)
        graph.value_info.append(info)
        added += 1
    return added


def types_from_a_run(model: ModelProto) -> int:
    """Add value_info with the element type and rank (dimensions left unknown) that a seeded onnx.reference run
    gives to tensors standard ops read but neither shape inference nor the schemas type: what a custom op or
    an op without shape inference produces. Without it, every op after such a node is refused ("input types
    unknown"), as OpenVINO cannot be asked about it. Returns how many value_infos were added (0 when the
    reference cannot run the model)."""
    graph = model.graph
    typed = {v.name for v in [*graph.input, *graph.value_info, *graph.output] if _has_shape(v)}
    typed |= {t.name for t in graph.initializer}
    wanted = {n for node in graph.node if node.domain in ("", "ai.onnx") for n in node.input if n and n not in typed}
    produced = {o for node in graph.node for o in node.output}
    wanted &= produced
    if not wanted:
        return 0
    from ovaot.compiler.samples import sample_inputs
    from ovaot.compiler.validation import reference_values

    values = reference_values(model, sample_inputs(model))
    if values is None:
        return 0
    known = {v.name: v for v in graph.value_info}
    added = 0
    for name in sorted(wanted):
        value = values.get(name)
        if not isinstance(value, np.ndarray) or value.dtype == object:
            continue
        elem_type = helper.np_dtype_to_tensor_dtype(value.dtype)
        info = helper.make_tensor_value_info(name, elem_type, [None] * value.ndim)
        info.type.tensor_type.shape.SetInParent()  # a scalar's shape too: rank 0 is known
        if name in known:
            graph.value_info.remove(known[name])
        graph.value_info.append(info)
        added += 1
    return added
