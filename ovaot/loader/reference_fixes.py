"""Kernels that replace onnx.reference's where it computes something other than the ONNX specification.

Both users of onnx.reference take them: the fallback runner and build-time validation (which would otherwise
move correct OpenVINO nodes to a wrong fallback). Imported only where onnx.reference is.
"""

from __future__ import annotations

import numpy as np
from onnx import ModelProto
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun


class BatchNormalization(OpRun):
    """Inference BatchNormalization, opsets 9-13: (x - mean) / sqrt(var + epsilon) * scale + bias.

    onnx.reference 1.23's BatchNormalization-9 mixes in the batch's own statistics whenever momentum is set,
    and the schema sets it (0.9) by default, so every BN of an opset-9 model came out wrong (by 0.55 on
    resnet50's first BN, where onnxruntime, OpenVINO and the formula agree to 5e-7). With one output, as in
    every inference model, BN-9 is the formula above.
    """

    op_domain = ""

    def _run(self, x, scale, bias, mean, var, epsilon=None, momentum=None, training_mode=None):
        shape = (-1,) + (1,) * (x.ndim - 2)
        eps = 1e-5 if epsilon is None else epsilon
        y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * scale.reshape(shape) + bias.reshape(shape)
        return (y.astype(x.dtype),)


def reference_fixes(model: ModelProto) -> list[type[OpRun]]:
    """The replacement kernels that apply to `model` (by its default-domain opset)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return [BatchNormalization] if 9 <= opset < 14 else []


def reference_evaluator(model: ModelProto, extra_ops: list[type[OpRun]] | None = None) -> ReferenceEvaluator:
    """onnx.reference's evaluator for `model` with the fixes above and any extra (custom) kernels."""
    return ReferenceEvaluator(model, new_ops=[*reference_fixes(model), *(extra_ops or [])] or None)
