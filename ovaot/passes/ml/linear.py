"""Linear models and element-wise preprocessing of ai.onnx.ml as standard ONNX: Scaler, Normalizer, Binarizer,
LinearRegressor, LinearClassifier."""

from __future__ import annotations

import numpy as np
from onnx import NodeProto

from ovaot.passes.emitter import Emitter, Unsupported, attributes, optional_output
from ovaot.passes.ml.transforms import post_transform
from ovaot.passes.ml.trees import choose_label

TINY = np.float32(1e-30)  # the smallest norm onnxruntime divides by


def lower_scaler(node: NodeProto, out: Emitter) -> None:
    """(float(x) - offset) * scale."""
    attrs = attributes(node)
    centred = out.op("Sub", out.cast(node.input[0]), out.const(np.float32(attrs.get("offset", [0.0])), "offset"))
    out.op("Mul", centred, out.const(np.float32(attrs.get("scale", [1.0])), "scale"), out=node.output[0])


def lower_normalizer(node: NodeProto, out: Emitter) -> None:
    """Each row over its largest value (MAX, as onnxruntime: not of absolute values; a row whose largest is 0
    stays as it is), or its L1 or L2 norm, never below 1e-30."""
    norm = attributes(node).get("norm", "MAX")
    x = out.cast(node.input[0])
    if norm == "MAX":
        largest = out.reduce("ReduceMax", x, axis=1, keepdims=1)
        zero = out.op("Equal", largest, out.const(np.float32(0), "zero"))
        out.op("Div", x, out.op("Where", zero, out.const(np.float32(1), "one"), largest), out=node.output[0])
        return
    if norm == "L1":
        size = out.reduce("ReduceSum", out.op("Abs", x), axis=1, keepdims=1)
    elif norm == "L2":
        size = out.op("Sqrt", out.reduce("ReduceSum", out.op("Mul", x, x), axis=1, keepdims=1))
    else:
        raise Unsupported(f"norm {norm!r}")
    out.op("Div", x, out.op("Max", size, out.const(TINY, "tiny")), out=node.output[0])


def lower_binarizer(node: NodeProto, out: Emitter) -> None:
    """1 where x > threshold, else 0, in x's type."""
    x = node.input[0]
    threshold = out.op("CastLike", out.const(np.float32(attributes(node).get("threshold", 0.0)), "threshold"), x)
    out.op("CastLike", out.op("Greater", x, threshold), x, out=node.output[0])


def _affine(out: Emitter, x: str, coefficients: list[float], intercepts: list[float] | None, rows: int) -> str:
    """x @ coefficients.reshape(rows, -1).T + intercepts, in float."""
    weights = np.array(coefficients, np.float32).reshape(rows, -1).T
    scores = out.op("MatMul", out.cast(x), out.const(weights, "coefficients"))
    if intercepts:
        scores = out.op("Add", scores, out.const(np.array(intercepts, np.float32), "intercepts"))
    return scores


def lower_linear_regressor(node: NodeProto, out: Emitter) -> None:
    attrs = attributes(node)
    targets = int(attrs.get("targets", 1))
    scores = _affine(out, node.input[0], attrs["coefficients"], attrs.get("intercepts"), targets)
    post_transform(out, scores, attrs.get("post_transform", "NONE"), result=node.output[0])


def lower_linear_classifier(node: NodeProto, out: Emitter) -> None:
    """One score per class (two from a single row of coefficients: -s and s), transformed; the label of the
    highest."""
    attrs = attributes(node)
    labels = attrs.get("classlabels_ints") or attrs.get("classlabels_strings")
    if not labels or len(labels) < 2:
        raise Unsupported("fewer than two class labels")
    rows = len(attrs.get("intercepts") or []) or (1 if len(labels) == 2 else len(labels))
    scores = _affine(out, node.input[0], attrs["coefficients"], attrs.get("intercepts"), rows)
    if rows == 1:
        scores = out.op("Concat", out.op("Neg", scores), scores, axis=1)
    elif rows != len(labels):
        raise Unsupported(f"{rows} rows of coefficients for {len(labels)} labels")
    transform = attrs.get("post_transform", "NONE")
    probabilities = post_transform(out, scores, transform, result=optional_output(node, 1))
    choose_label(out, probabilities, labels, node.output[0])


def lower_array_feature_extractor(node: NodeProto, out: Emitter) -> None:
    """x[..., indices]: a Gather on the last axis (x of rank 2 or more, as converters write it); a scalar index
    keeps its axis, as in onnxruntime."""
    rank = out.rank(node.input[0])
    if rank is None or rank < 2:
        raise Unsupported(f"an input of rank {rank}")
    indices = out.op("Reshape", node.input[1], out.const([-1], "flat", np.int64))
    out.op("Gather", node.input[0], indices, axis=rank - 1, out=node.output[0])
