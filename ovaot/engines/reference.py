"""Kernels that replace onnx.reference's where it computes something other than the ONNX specification, and
kernels for ops it lacks (ZipMap, onnxruntime's Tokenizer), and onnxruntime's SVMClassifier.

Both users of onnx.reference take them: the fallback runner and build-time validation (which would otherwise
move correct OpenVINO nodes to a wrong fallback). Imported only where onnx.reference is.
"""

from __future__ import annotations

import re

import numpy as np
from onnx import ModelProto, helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun
from onnx.reference.ops.aionnxml.op_svm_classifier import SVMClassifier as _ReferenceSVMClassifier
from onnx.reference.ops.op_loop import Loop as _ReferenceLoop
from onnx.reference.ops.op_string_normalizer import StringNormalizer as _ReferenceStringNormalizer

from ovaot.engines.libsvm import pair_weights, vote_matrices


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


class GatherElements(OpRun):
    """GatherElements by np.take_along_axis: onnx.reference's goes through np.choose (at most 32 choices) and a
    fallback that reads only the first index of each row (a (1, 64) by (1, 15) gather failed to reshape)."""

    def _run(self, data, indices, axis=0):  # type: ignore[override]
        indices = np.where(indices < 0, indices + data.shape[axis], indices)
        return (np.take_along_axis(data, indices.astype(np.int64), axis=axis),)


class ZipMap(OpRun):
    """ai.onnx.ml ZipMap, which onnx.reference lacks: each row of scores as {label: score}, a list of dicts as
    onnxruntime returns it."""

    op_domain = "ai.onnx.ml"

    def _run(self, x, classlabels_int64s=None, classlabels_strings=None):
        labels = classlabels_int64s if classlabels_int64s is not None else classlabels_strings
        if len(labels) != x.shape[-1]:
            raise ValueError(f"ZipMap: {len(labels)} labels for {x.shape[-1]} scores per row")
        keys = list(labels)  # one tolist() for the whole matrix: a numpy call per row cost 1.5 us of 1.9
        return ([dict(zip(keys, row)) for row in np.atleast_2d(x).tolist()],)


class SVMClassifier(_ReferenceSVMClassifier):
    """ai.onnx.ml SVMClassifier as onnxruntime computes it, vectorised over rows (onnx.reference loops over rows
    in Python and couples multiclass probabilities differently: 8x off on iris). Support-vector (SVC) mode here;
    linear mode is onnx.reference's."""

    op_domain = "ai.onnx.ml"

    def _run(self, x, **attrs):  # type: ignore[override]
        per_class = [int(v) for v in attrs.get("vectors_per_class") or []]
        labels = attrs.get("classlabels_ints") or attrs.get("classlabels_strings")
        transform = (attrs.get("post_transform") or "NONE").upper()
        if sum(per_class) == 0 or transform not in ("NONE", "LOGISTIC", "SOFTMAX"):
            return super()._run(x, **attrs)
        classes, count = len(per_class), sum(per_class)
        if classes == 2 and not attrs.get("prob_a") and transform != "NONE":
            return super()._run(x, **attrs)
        vectors = np.asarray(attrs["support_vectors"], np.float32).reshape(count, -1)
        kernel = svm_kernel(np.asarray(x, np.float32), vectors, attrs)
        weights, pairs = pair_weights(np.asarray(attrs["coefficients"], np.float64), per_class)
        totals = kernel.astype(np.float64) @ weights + np.asarray(attrs["rho"][: len(pairs)], np.float64)
        scores = totals.astype(np.float32)  # summed in double, as onnxruntime does
        change, losers = vote_matrices(pairs, classes)
        votes = (totals > 0).astype(np.float32) @ change + losers
        label = np.asarray(labels)[np.argmax(votes, axis=1)]
        if attrs.get("prob_a"):
            scores = _couple(scores, pairs, classes, attrs["prob_a"], attrs["prob_b"])
        elif classes == 2:
            scores = np.concatenate([-scores, scores], axis=1)
        if transform == "LOGISTIC":
            scores = (1 / (1 + np.exp(-scores))).astype(np.float32)
        elif transform == "SOFTMAX":
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)
        return label, scores


def svm_kernel(x: np.ndarray, vectors: np.ndarray, attrs: dict) -> np.ndarray:
    """(N, V) kernel values of rows against support vectors: LINEAR, POLY, RBF or SIGMOID."""
    gamma, coef0, degree = [*(attrs.get("kernel_params") or []), 0.0, 0.0, 0.0][:3]
    kind = (attrs.get("kernel_type") or "LINEAR").upper()
    if kind == "RBF":
        distance = ((x[:, None, :].astype(np.float64) - vectors[None, :, :]) ** 2).sum(axis=2)
        return np.exp(-gamma * distance).astype(np.float32)
    dot = (x.astype(np.float64) @ vectors.T.astype(np.float64)).astype(np.float32)
    if kind == "POLY":
        return np.power(gamma * dot + coef0, degree).astype(np.float32)
    if kind == "SIGMOID":
        return np.tanh(gamma * dot + coef0).astype(np.float32)
    return dot


def _couple(scores: np.ndarray, pairs: list, classes: int, prob_a: list, prob_b: list) -> np.ndarray:
    """Class probabilities from pair scores: Platt's sigmoid per pair, then libsvm's pairwise coupling
    (Wu, Lin and Weng 2004, method 2) as onnxruntime runs it: float32, at most 100 sweeps, each row stopping
    once its largest error is below 0.005 / classes."""
    f32 = np.float32
    rows, k = len(scores), classes
    r = np.zeros((rows, k, k), f32)
    for p, (i, j) in enumerate(pairs):
        probability = f32(1) / (f32(1) + np.exp(scores[:, p] * f32(prob_a[p]) + f32(prob_b[p])))
        probability = np.clip(probability, f32(1e-7), f32(1 - 1e-7)).astype(f32)
        r[:, i, j], r[:, j, i] = probability, f32(1) - probability
    q = np.zeros((rows, k, k), f32)
    for t in range(k):
        for j in range(k):
            if j != t:
                q[:, t, t] += r[:, j, t] * r[:, j, t]
                q[:, t, j] = -r[:, j, t] * r[:, t, j]
    p = np.full((rows, k), f32(1) / f32(k), f32)
    active = np.ones(rows, bool)
    eps = f32(0.005) / f32(k)
    for _ in range(100):
        qp = np.einsum("ntj,nj->nt", q, p).astype(f32)
        pqp = (p * qp).sum(axis=1).astype(f32)
        active &= np.abs(qp - pqp[:, None]).max(axis=1) >= eps
        if not active.any():
            break
        a = active
        for t in range(k):
            diff = ((-qp[a, t] + pqp[a]) / q[a, t, t]).astype(f32)
            p[a, t] += diff
            grown = f32(1) + diff
            pqp[a] = ((pqp[a] + diff * (diff * q[a, t, t] + f32(2) * qp[a, t])) / grown / grown).astype(f32)
            qp[a] = ((qp[a] + diff[:, None] * q[a, t, :]) / grown[:, None]).astype(f32)
            p[a] = (p[a] / grown[:, None]).astype(f32)
    return p


class Tokenizer(OpRun):
    """onnxruntime's com.microsoft Tokenizer, which skl2onnx's text vectorizers emit: each string split into the
    matches of `tokenexp` (or the pieces between `separators`), tokens shorter than `mincharnum` dropped, wrapped
    in start and end marks (\\x02 and \\x03) with `mark`, and padded with `pad_value` to the longest row; one more
    axis than the input, of length 0 when no row has a token."""

    op_domain = "com.microsoft"

    def _run(self, x, mark=0, mincharnum=1, pad_value="#", separators=None, tokenexp=None):  # type: ignore[override]
        if tokenexp:
            pattern = re.compile(tokenexp.decode() if isinstance(tokenexp, bytes) else tokenexp)
            split = pattern.findall
        else:
            pieces = [s.decode() if isinstance(s, bytes) else s for s in separators or []]
            joined = re.compile("|".join(f"(?:{p})" for p in pieces)) if pieces else None
            split = joined.split if joined else (lambda text: [text])
        pad = pad_value.decode() if isinstance(pad_value, bytes) else pad_value
        strings = np.asarray(x, dtype=object)
        rows = []
        for text in strings.ravel():
            tokens = [t for t in split(str(text)) if len(t) >= max(mincharnum, 1)]
            rows.append(["\x02", *tokens, "\x03"] if mark else tokens)
        width = max((len(r) for r in rows), default=0)
        y = np.full((len(rows), width), pad, dtype=object)
        for i, row in enumerate(rows):
            y[i, : len(row)] = row
        return (y.reshape((*strings.shape, width)),)


class StringNormalizer(_ReferenceStringNormalizer):
    """StringNormalizer that keeps empty strings, as the specification and onnxruntime do (onnx.reference drops
    them, and a text pipeline loses the rows whose text is empty). Without stopwords it only changes case."""

    def _run(self, x, case_change_action=None, is_case_sensitive=None, locale=None, stopwords=None):  # type: ignore[override]
        if stopwords:
            return super()._run(x, case_change_action, is_case_sensitive, locale, stopwords)
        change = {"LOWER": str.lower, "UPPER": str.upper}.get(case_change_action or "NONE", str)
        return (np.vectorize(lambda text: change(str(text)), otypes=[object])(np.asarray(x, dtype=object)),)


def reference_fixes(model: ModelProto) -> list[type[OpRun]]:
    """The replacement kernels that apply to `model` (by its default-domain opset)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    fixes = [Loop, GatherElements, ZipMap, SVMClassifier, Tokenizer, StringNormalizer]
    return [*fixes, *([BatchNormalization] if 9 <= opset < 14 else [])]


def reference_evaluator(model: ModelProto, extra_ops: list[type[OpRun]] | None = None) -> ReferenceEvaluator:
    """onnx.reference's evaluator for `model` with the fixes above and any extra (custom) kernels."""
    return ReferenceEvaluator(model, new_ops=[*reference_fixes(model), *(extra_ops or [])] or None)
