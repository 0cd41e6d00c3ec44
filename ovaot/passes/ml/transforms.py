"""The post_transform attribute of ai.onnx.ml classifiers and regressors, as standard ONNX."""

from __future__ import annotations

import numpy as np

from ovaot.passes.emitter import Emitter, Unsupported


def post_transform(out: Emitter, scores: str, transform: str, result: str | None = None) -> str:
    """`scores` (N, K) after NONE, LOGISTIC, SOFTMAX or SOFTMAX_ZERO, written to `result` when given."""
    if transform == "NONE":
        return out.op("Identity", scores, out=result) if result else scores
    if transform == "LOGISTIC":
        return out.op("Sigmoid", scores, out=result)
    if transform == "SOFTMAX":
        return out.op("Softmax", scores, out=result, axis=1)
    if transform == "SOFTMAX_ZERO":  # zero scores stay zero and take no share
        shifted = out.op("Sub", scores, out.reduce("ReduceMax", scores, axis=1, keepdims=1))
        kept = out.cast(out.op("Not", out.op("Equal", scores, out.const(np.float32(0), "zero"))))
        exp = out.op("Mul", out.op("Exp", shifted), kept)
        total = out.reduce("ReduceSum", exp, axis=1, keepdims=1)
        zero = out.op("Equal", total, out.const(np.float32(0), "zero"))
        shares = out.op("Div", exp, out.op("Where", zero, out.const(np.float32(1), "one"), total))
        return out.op("Where", zero, out.const(np.float32(0.5), "half"), shares, out=result)  # onnxruntime's
    raise Unsupported(f"post_transform {transform} is not lowered")
