"""Rewrites around OpenVINO defects that change results, so that the op still runs on the device and computes
what ONNX says. Each was found by onnx's node test cases (artifacts/conformance.md) on OpenVINO 2026.4's CPU
plugin; tests/test_openvino_defects.py shows the defect on the OpenVINO at hand and the rewrite's answer.
"""

from __future__ import annotations

import numpy as np
from onnx import NodeProto, TensorProto, helper

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


OPENVINO_DEFECT_PASS = LowerOps(
    "guard_openvino_defects",
    "rewrite BitShift and NonMaxSuppression around OpenVINO defects (shifts by the width or more, IoU equal "
    "to the threshold) so that they compute what ONNX says",
    "",
    {"BitShift": guard_bit_shift, "NonMaxSuppression": nudge_nms_iou_threshold},
    min_opset=0,
)

__all__ = ["OPENVINO_DEFECT_PASS"]
