"""onnxruntime's QOperator format: its com.microsoft QLinear* ops and QGemm rewritten as DequantizeLinear, the
float op and QuantizeLinear (the QDQ form).

onnxruntime's quantizer (`quantize_static(quant_format=QOperator)`) writes these contrib ops. OpenVINO's ONNX
frontend takes a few of them and onnx.reference none; in QDQ form OpenVINO runs every one and fuses the pattern
back into low-precision kernels, and the fallback can run them too. Results agree with onnxruntime within one
quantisation step (both round half to even; onnxruntime computes some ops through lookup tables).
"""

from __future__ import annotations

from typing import Any

from onnx import NodeProto

from ovaot.passes.emitter import Emitter, Unsupported, attributes
from ovaot.passes.lowering import LowerOps

MICROSOFT_DOMAIN = "com.microsoft"


def _dequantize(out: Emitter, x: str, scale: str, zero_point: str, **axis: int) -> str:
    return out.op("DequantizeLinear", *_trimmed([x, scale, zero_point]), **axis)


def _quantize(out: Emitter, y: str, scale: str, zero_point: str, result: str) -> None:
    out.op("QuantizeLinear", *_trimmed([y, scale, zero_point]), out=result)


def _trimmed(inputs: list[str]) -> list[str]:
    """Inputs without the trailing optional ones left out."""
    while inputs and not inputs[-1]:
        inputs.pop()
    return inputs


def _input(node: NodeProto, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def _channels_first(out: Emitter, x: str, rank: int | None, attrs: dict[str, Any]) -> tuple[str, list[int] | None]:
    """x as NC... where the node says channels_last=1, and the permutation back."""
    if not attrs.pop("channels_last", 0):
        return x, None
    if rank is None:
        raise Unsupported("channels_last on an input of unknown rank")
    to_first = [0, rank - 1, *range(1, rank - 1)]
    back = [0, *range(2, rank), 1]
    return out.op("Transpose", x, perm=to_first), back


def _unary(op_type: str, defaults: dict[str, Any] | None = None):
    """(X, X_scale, X_zero_point, Y_scale, Y_zero_point) -> Y: QLinearSigmoid, QLinearLeakyRelu, ..."""

    def lower(node: NodeProto, out: Emitter) -> None:
        attrs = {**(defaults or {}), **attributes(node)}
        x = _dequantize(out, node.input[0], node.input[1], _input(node, 2))
        _quantize(out, out.op(op_type, x, **attrs), node.input[3], _input(node, 4), node.output[0])

    return lower


def _binary(op_type: str):
    """(A, A_scale, A_zero_point, B, B_scale, B_zero_point, C_scale, C_zero_point) -> C: QLinearAdd, QLinearMul."""

    def lower(node: NodeProto, out: Emitter) -> None:
        a = _dequantize(out, node.input[0], node.input[1], _input(node, 2))
        b = _dequantize(out, node.input[3], node.input[4], _input(node, 5))
        _quantize(out, out.op(op_type, a, b), node.input[6], _input(node, 7), node.output[0])

    return lower


def lower_concat(node: NodeProto, out: Emitter) -> None:
    """(Y_scale, Y_zero_point, X1, X1_scale, X1_zero_point, X2, ...) -> Y."""
    triples = node.input[2:]
    if len(triples) % 3:
        raise Unsupported("inputs do not come in (tensor, scale, zero point) triples")
    parts = [_dequantize(out, *triples[i : i + 3]) for i in range(0, len(triples), 3)]
    _quantize(
        out, out.op("Concat", *parts, axis=attributes(node)["axis"]), node.input[0], node.input[1], node.output[0]
    )


def _pool(op_type: str):
    """(X, x_scale, x_zero_point, y_scale, y_zero_point) -> Y: QLinearAveragePool, QLinearGlobalAveragePool."""

    def lower(node: NodeProto, out: Emitter) -> None:
        attrs = attributes(node)
        x = _dequantize(out, node.input[0], node.input[1], _input(node, 2))
        x, back = _channels_first(out, x, out.rank(node.input[0]), attrs)
        y = out.op(op_type, x, **attrs)
        if back is not None:
            y = out.op("Transpose", y, perm=back)
        _quantize(out, y, node.input[3], _input(node, 4), node.output[0])

    return lower


def lower_softmax(node: NodeProto, out: Emitter) -> None:
    """QLinearSoftmax; its `opset` attribute says whose Softmax: below 13, over the input flattened at `axis`."""
    attrs = attributes(node)
    axis, opset = attrs.get("axis", -1), attrs.get("opset", 13)
    x = _dequantize(out, node.input[0], node.input[1], _input(node, 2))
    if opset >= 13:
        y = out.op("Softmax", x, axis=axis)
    else:
        flat = out.op("Softmax", out.op("Flatten", x, axis=axis), axis=1)
        y = out.op("Reshape", flat, out.op("Shape", x))
    _quantize(out, y, node.input[3], _input(node, 4), node.output[0])


def lower_qgemm(node: NodeProto, out: Emitter) -> None:
    """QGemm (A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp): alpha (A'B' + C) as onnxruntime's kernel
    computes it (C, int32 at scale a_scale * b_scale, joins the accumulator before alpha scales it); float output
    where y_scale is left out. B's scale is per tensor or per output column."""
    attrs = attributes(node)
    trans_b = attrs.get("transB", 0)
    a = _dequantize(out, node.input[0], node.input[1], _input(node, 2))
    b_scale_rank = out.rank(node.input[4])
    axis = {} if b_scale_rank == 0 else {"axis": 0 if trans_b else 1}
    if b_scale_rank is None:
        raise Unsupported("B's scale has an unknown rank")
    b = _dequantize(out, node.input[3], node.input[4], _input(node, 5), **axis)
    inputs = [a, b]
    if _input(node, 6):
        scale = out.op("Mul", node.input[1], node.input[4])
        inputs.append(out.op("Mul", out.cast(node.input[6]), scale))
    alpha = attrs.get("alpha", 1.0)
    y = out.op("Gemm", *inputs, alpha=alpha, beta=alpha, transA=attrs.get("transA", 0), transB=trans_b)
    if _input(node, 7):
        _quantize(out, y, node.input[7], _input(node, 8), node.output[0])
    else:
        out.op("Identity", y, out=node.output[0])


QOPERATOR_LOWERING_PASS = LowerOps(
    "lower_qoperator",
    "rewrite onnxruntime's com.microsoft QLinear* ops and QGemm as DequantizeLinear, the float op, QuantizeLinear",
    MICROSOFT_DOMAIN,
    {
        "QLinearAdd": _binary("Add"),
        "QLinearMul": _binary("Mul"),
        "QLinearSigmoid": _unary("Sigmoid"),
        "QLinearLeakyRelu": _unary("LeakyRelu", {"alpha": 0.01}),
        "QLinearConcat": lower_concat,
        "QLinearAveragePool": _pool("AveragePool"),
        "QLinearGlobalAveragePool": _pool("GlobalAveragePool"),
        "QLinearSoftmax": lower_softmax,
        "QGemm": lower_qgemm,
    },
)
