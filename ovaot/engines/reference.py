"""Kernels that replace onnx.reference's where it computes something other than the ONNX specification, and
kernels for standard ops it lacks (ZipMap).

Both users of onnx.reference take them: the fallback runner and build-time validation (which would otherwise
move correct OpenVINO nodes to a wrong fallback). Imported only where onnx.reference is.
"""

from __future__ import annotations

import numpy as np
from onnx import ModelProto, helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun
from onnx.reference.ops.op_loop import Loop as _ReferenceLoop


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


class Loop(_ReferenceLoop):
    """Loop whose scan outputs are stacked along a new first axis, as the specification says.

    onnx.reference 1.23 joins them with np.vstack: per-step scalars come out (N, 1) instead of (N,), per-step
    [2, 8] tensors (2N, 8) instead of (N, 2, 8), and zero iterations raise ValueError instead of giving empty
    scan outputs. It also lets outer-scope values override the loop-carried ones of the same name. The body,
    the counts of carried (N) and scan (K) values come from its __init__.
    """

    def _run(self, M, cond, *carried, context=None, body=None, attributes=None, bindings=None):
        names = self.body.input_names
        values = list(carried)
        scans: list[list[np.ndarray]] = [[] for _ in range(self.K)]
        keep_going = True if cond is None else bool(cond)

        def step(trip: int) -> list:
            feed = dict(context or {})
            feed.update(zip(names[2:], values))  # the carried values win over outer names
            if names[0]:
                feed[names[0]] = np.array(trip, dtype=np.int64)
            if names[1]:
                feed[names[1]] = np.array(keep_going)
            return self._run_body(feed, attributes=attributes, bindings=bindings)

        trip = 0
        while keep_going and (M is None or trip < int(M)):
            outputs = step(trip)
            keep_going = bool(outputs[0])
            values = list(outputs[1 : 1 + self.N])
            for k in range(self.K):
                scans[k].append(np.asarray(outputs[1 + self.N + k]))
            trip += 1
        if trip == 0 and self.K:  # empty scan outputs take the shape one step would give them
            probe = [np.asarray(value) for value in self._one_step(step)[1 + self.N :]]
            return self._check_and_fix_outputs((*values, *(np.empty((0, *p.shape), p.dtype) for p in probe)))
        return self._check_and_fix_outputs((*values, *(np.stack(steps) for steps in scans)))

    def _one_step(self, step) -> list:
        """The body's outputs for trip 0; where the body cannot run, arrays of its declared shapes (unknown: 0)."""
        try:
            return step(0)
        except Exception:
            graph = next(a.g for a in self.onnx_node.attribute if a.name == "body")
            declared = [o.type.tensor_type for o in graph.output]
            return [
                np.empty(
                    [max(d.dim_value, 0) for d in t.shape.dim],
                    helper.tensor_dtype_to_np_dtype(t.elem_type or 1),
                )
                for t in declared
            ]


class ZipMap(OpRun):
    """ai.onnx.ml ZipMap, which onnx.reference lacks: each row of scores as {label: score}, a list of dicts as
    onnxruntime returns it."""

    op_domain = "ai.onnx.ml"

    def _run(self, x, classlabels_int64s=None, classlabels_strings=None):
        labels = classlabels_int64s if classlabels_int64s is not None else classlabels_strings
        if len(labels) != x.shape[-1]:
            raise ValueError(f"ZipMap: {len(labels)} labels for {x.shape[-1]} scores per row")
        return ([dict(zip(labels, row.tolist(), strict=True)) for row in np.atleast_2d(x)],)


def reference_fixes(model: ModelProto) -> list[type[OpRun]]:
    """The replacement kernels that apply to `model` (by its default-domain opset)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    return [Loop, ZipMap, *([BatchNormalization] if 9 <= opset < 14 else [])]


def reference_evaluator(model: ModelProto, extra_ops: list[type[OpRun]] | None = None) -> ReferenceEvaluator:
    """onnx.reference's evaluator for `model` with the fixes above and any extra (custom) kernels."""
    return ReferenceEvaluator(model, new_ops=[*reference_fixes(model), *(extra_ops or [])] or None)
