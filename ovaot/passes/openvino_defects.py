"""Rewrites around OpenVINO defects that change results, so that the op still runs on the device and computes
what ONNX says. Each was found by onnx's node test cases (artifacts/conformance.md) on OpenVINO 2026.4's CPU
plugin; tests/test_openvino_defects.py shows the defect on the OpenVINO at hand and the rewrite's answer.
"""

from __future__ import annotations

import numpy as np
from onnx import AttributeProto, GraphProto, NodeProto, TensorProto, helper, numpy_helper

from ovaot.passes.emitter import Emitter, Unsupported, attributes
from ovaot.passes.lowering import LowerOps


def guard_bit_shift(node: NodeProto, out: Emitter) -> None:
    """BitShift as ONNX defines it. OpenVINO shifts 32-bit values by the amount modulo the width (-1 << 100 came
    back as -2^31; ONNX gives 0, or -1 for a negative value shifted right), and computes 8-bit shifts in 32 bits
    and saturates on the way back (int8 64 << 1 gave 127, ONNX wraps to -128; uint8 200 << 1 gave 255). 8-bit
    values are shifted in 32 bits here and wrapped explicitly; 32-bit shifts by the width or more are selected
    away. 16-bit shifts are right as they are; 64-bit ones are computed in 32 bits, which no rewrite mends (the
    defect table sends them to the fallback)."""
    elem_type = out.type(node.input[0])
    if elem_type is None:
        raise Unsupported("the shifted value's type is unknown")
    dtype = helper.tensor_dtype_to_np_dtype(elem_type)
    direction = attributes(node)["direction"]
    x, amount = node.input[0], node.input[1]
    if dtype.itemsize in (2, 8):
        raise Unsupported(f"{dtype} shifts need no rewrite or have none")
    if dtype.itemsize == 1:
        wide = TensorProto.INT32 if dtype.kind == "i" else TensorProto.UINT32
        wide_dtype = helper.tensor_dtype_to_np_dtype(wide)
        shift = out.op("Min", out.cast(amount, wide), out.const(np.array(31, wide_dtype), "most"))
        shifted = out.op("BitShift", out.cast(x, wide), shift, direction=direction)
        if direction == "LEFT":  # keep the low bits: two's complement wrap into the narrow type
            span, half = 1 << (8 * dtype.itemsize), 1 << (8 * dtype.itemsize - 1)
            if dtype.kind == "i":
                lifted = out.op("Add", shifted, out.const(np.array(half, wide_dtype), "half"))
                low = out.op("Mod", lifted, out.const(np.array(span, wide_dtype), "span"))
                shifted = out.op("Sub", low, out.const(np.array(half, wide_dtype), "half"))
            else:
                shifted = out.op("Mod", shifted, out.const(np.array(span, wide_dtype), "span"))
        out.cast(shifted, elem_type, out=node.output[0])
        return
    shifted = out.op("BitShift", x, amount, direction=direction)
    width = out.op("CastLike", out.const(np.int64(8 * dtype.itemsize), "width"), amount)
    zero = out.const(np.zeros((), dtype), "zero")
    beyond = zero
    if direction == "RIGHT" and dtype.kind == "i":
        beyond = out.op("Where", out.op("Less", x, zero), out.const(np.array(-1, dtype), "minus_one"), zero)
    out.op("Where", out.op("Less", amount, width), shifted, beyond, out=node.output[0])


def nudge_nms_iou_threshold(node: NodeProto, out: Emitter) -> None:
    """NonMaxSuppression keeps a box whose IoU equals iou_threshold (ONNX suppresses only above it); OpenVINO
    suppressed it. The threshold moves up by one float32 step: a constant exactly, a run-time value by
    t * (1 + 2^-23) (one step, two where t's mantissa is at least 1.5)."""
    if len(node.input) < 4 or not node.input[3]:
        raise Unsupported("no iou_threshold")
    threshold = out.constant(node.input[3])
    if threshold is not None:
        nudged = out.const(np.nextafter(threshold.astype(np.float32), np.float32(np.inf)), "iou_threshold")
    else:
        nudged = out.op("Mul", node.input[3], out.const(np.float32(1 + 2**-23), "one_step"))
    inputs = [*node.input[:3], nudged, *node.input[4:]]
    out.op("NonMaxSuppression", *inputs, out=node.output[0], **attributes(node))


def compute_empty_branch_outputs(node: NodeProto, out: Emitter) -> None:
    """If whose taken branch returns a zero-element Constant: OpenVINO returns one element of garbage instead
    (an empty index list came back as shape (1,), so a detector with no box above its threshold returned one
    box of uninitialised memory). The same empty tensor made by ConstantOfShape comes back empty."""
    rewritten = {a.name: _with_computed_empties(a.g) for a in node.attribute if a.type == AttributeProto.GRAPH}
    if all(graph is None for graph in rewritten.values()):
        raise Unsupported("no branch returns an empty constant")
    replacement = NodeProto()
    replacement.CopyFrom(node)
    for attribute in replacement.attribute:
        if rewritten.get(attribute.name) is not None:
            attribute.g.CopyFrom(rewritten[attribute.name])
    out.nodes.append(replacement)


def _with_computed_empties(graph: GraphProto) -> GraphProto | None:
    """`graph` with each output that is a zero-element Constant (node or initializer) made by ConstantOfShape,
    nested Ifs rewritten alike; None when nothing changes."""
    outputs = {o.name for o in graph.output}
    empty = {t.name: t for t in graph.initializer if t.name in outputs and 0 in t.dims}
    nodes, changed = [], False
    for node in graph.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None) if node.op_type == "Constant" else None
        if value is not None and node.output[0] in outputs and 0 in value.dims and not node.domain:
            empty[node.output[0]] = value
            changed = True
            continue
        if node.op_type == "If" and not node.domain:
            try:
                inner = Emitter(node, 0)
                compute_empty_branch_outputs(node, inner)
                nodes.extend(inner.nodes)
                changed = True
                continue
            except Unsupported:
                pass
        nodes.append(node)
    if not empty and not changed:
        return None
    for name, tensor in sorted(empty.items()):
        if tensor.data_type == TensorProto.STRING:
            return None  # ConstantOfShape makes no strings
        fill = numpy_helper.from_array(np.zeros(1, helper.tensor_dtype_to_np_dtype(tensor.data_type)))
        shape = numpy_helper.from_array(np.array(tensor.dims, np.int64), f"{name}_shape")
        nodes.append(helper.make_node("Constant", [], [shape.name], value=shape, name=f"{name}_shape"))
        nodes.append(helper.make_node("ConstantOfShape", [shape.name], [name], value=fill, name=f"{name}_empty"))
    result = GraphProto()
    result.CopyFrom(graph)
    del result.node[:]
    result.node.extend(nodes)
    kept = [t for t in graph.initializer if t.name not in empty]
    del result.initializer[:]
    result.initializer.extend(kept)
    return result


OPENVINO_DEFECT_PASS = LowerOps(
    "guard_openvino_defects",
    "rewrite BitShift, NonMaxSuppression and If around OpenVINO defects (shifts by the width or more, IoU equal "
    "to the threshold, a branch returning an empty constant) so that they compute what ONNX says",
    "",
    {"BitShift": guard_bit_shift, "NonMaxSuppression": nudge_nms_iou_threshold, "If": compute_empty_branch_outputs},
    min_opset=0,
)

__all__ = ["OPENVINO_DEFECT_PASS"]
