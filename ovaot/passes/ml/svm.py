"""Support vector machines of ai.onnx.ml as standard ONNX: SVMRegressor and SVMClassifier, with onnxruntime's
conventions (one-vs-one pair scores, votes for the label).

The kernel matrix of the rows against the support vectors is one MatMul (RBF expands |x - v|^2 as
|x|^2 - 2 x.v + |v|^2); pair scores are a second MatMul. Probabilities need libsvm's iterative pairwise
coupling, stopped per row as onnxruntime does (even two classes differ from the plain Platt sigmoid by ~2%):
those classifiers stay in the fallback, whose SVMClassifier kernel runs onnxruntime's algorithm
(ovaot/engines/reference.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import NodeProto

from ovaot.engines.libsvm import pair_weights, vote_matrices
from ovaot.passes.emitter import Emitter, Unsupported, attributes, optional_output
from ovaot.passes.ml.transforms import post_transform
from ovaot.passes.ml.trees import choose_label


def _kernel(out: Emitter, x: str, attrs: dict[str, Any], vectors: np.ndarray) -> str:
    """(N, V): the kernel of each row with each support vector."""
    gamma, coef0, degree = [*attrs.get("kernel_params", []), 0.0, 0.0, 0.0][:3]
    kind = attrs.get("kernel_type", "LINEAR")
    if kind == "RBF":  # rows and vectors moved by the vectors' mean first: less cancellation in the expansion
        centre = vectors.astype(np.float64).mean(axis=0)
        x = out.op("Sub", x, out.const(centre.astype(np.float32), "centre"))
        vectors = (vectors - centre).astype(np.float32)
    dot = out.op("MatMul", x, out.const(vectors.T.copy(), "support_vectors"))
    if kind == "LINEAR":
        return dot
    if kind == "RBF":
        rows = out.reduce("ReduceSum", out.op("Mul", x, x), axis=1, keepdims=1)
        columns = out.const((vectors.astype(np.float64) ** 2).sum(axis=1).astype(np.float32).reshape(1, -1), "norms")
        distance = out.op("Add", out.op("Sub", rows, out.op("Add", dot, dot)), columns)
        distance = out.op("Max", distance, out.const(np.float32(0), "zero"))  # rounding must not go below 0
        return out.op("Exp", out.op("Mul", distance, out.const(np.float32(-gamma), "minus_gamma")))
    scaled = out.op("Add", out.op("Mul", dot, out.const(np.float32(gamma), "gamma")), out.const(np.float32(coef0), "c"))
    if kind == "POLY":
        return out.op("Pow", scaled, out.const(np.float32(degree), "degree"))
    if kind == "SIGMOID":
        return out.op("Tanh", scaled)
    raise Unsupported(f"kernel_type {kind!r}")


def _vectors(attrs: dict[str, Any], count: int) -> np.ndarray:
    values = np.array(attrs.get("support_vectors", []), np.float32)
    if count <= 0 or values.size % count:
        raise Unsupported("support_vectors do not divide into the declared number of vectors")
    return values.reshape(count, -1)


def lower_svm_regressor(node: NodeProto, out: Emitter) -> None:
    """sum_j coefficient_j K(x, v_j) + rho (a linear model where n_supports is 0); one_class gives +-1."""
    attrs = attributes(node)
    count = int(attrs.get("n_supports", 0))
    coefficients = np.array(attrs["coefficients"], np.float32)
    x = out.cast(node.input[0])
    if count > 0:
        kernel = _kernel(out, x, attrs, _vectors(attrs, count))
        score = out.op("MatMul", kernel, out.const(coefficients.reshape(-1, 1), "coefficients"))
    else:
        score = out.op("MatMul", x, out.const(coefficients.reshape(-1, 1), "coefficients"))
    score = out.op("Add", score, out.const(np.float32(attrs["rho"][0]), "rho"))
    if attrs.get("one_class", 0):
        positive = out.op("Greater", score, out.const(np.float32(0), "zero"))
        one = out.const(np.float32(1), "one")
        score = out.op("Where", positive, one, out.op("Neg", one))
    post_transform(out, score, attrs.get("post_transform", "NONE"), result=node.output[0])


def lower_svm_classifier(node: NodeProto, out: Emitter) -> None:
    """onnxruntime's SVMClassifier: one-vs-one pair scores, the label by votes (first class on ties), scores
    the pair scores (two columns for two classes), or class probabilities where prob_a is given."""
    attrs = attributes(node)
    labels = attrs.get("classlabels_ints") or attrs.get("classlabels_strings")
    per_class = [int(v) for v in attrs.get("vectors_per_class", [])]
    if not labels or len(labels) < 2:
        raise Unsupported("fewer than two class labels")
    if sum(per_class) == 0:
        raise Unsupported("a linear (liblinear) SVMClassifier")
    if len(per_class) != len(labels):
        raise Unsupported("vectors_per_class does not match the labels")
    classes = len(labels)
    if attrs.get("prob_a"):
        raise Unsupported("probabilities (libsvm's iterative coupling, stopped per row) run in the fallback")
    transform = attrs.get("post_transform", "NONE")
    if classes == 2 and transform != "NONE":
        raise Unsupported(f"a binary SVMClassifier with post_transform {transform}")
    try:
        weights, pairs = pair_weights(np.asarray(attrs["coefficients"], np.float32), per_class)
    except ValueError as exc:
        raise Unsupported(str(exc)) from None
    kernel = _kernel(out, out.cast(node.input[0]), attrs, _vectors(attrs, sum(per_class)))
    rho = np.array(attrs["rho"][: len(pairs)], np.float32)
    scores = out.op("Add", out.op("MatMul", kernel, out.const(weights, "pair_weights")), out.const(rho, "rho"))
    wins = out.cast(out.op("Greater", scores, out.const(np.float32(0), "zero")))
    change, losers = vote_matrices(pairs, classes)
    votes = out.op("Add", out.op("MatMul", wins, out.const(change, "votes")), out.const(losers, "base_votes"))
    if classes == 2:  # onnxruntime's two columns for one pair score s
        scores = out.op("Concat", out.op("Neg", scores), scores, axis=1)
    post_transform(out, scores, transform, result=optional_output(node, 1))
    choose_label(out, votes, labels, node.output[0])
