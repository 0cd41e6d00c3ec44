"""Seeded sample inputs made from a model's input signature, for verification runs at build time.

`sample_inputs` is one ordinary set. `validation_sets` adds the sets that catch kernels which are right on
ordinary values and wrong at the edges: inf, nan, denormals and huge floats; integers over their whole range
where only elementwise arithmetic reads them; all zeros, which drives data-dependent shapes to empty;
repeated values (ties) and small fixed integers, which is what axes, counts and indices usually are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import ModelProto

from ovaot.compiler.value_info import tensor_inputs

Feed = dict[str, np.ndarray]


def sample_inputs(model: ModelProto, seed: int = 0) -> Feed:
    """Standard-normal floats, small non-negative integers, random booleans; dynamic dimensions become 1."""
    rng = np.random.default_rng(seed)
    feed: Feed = {}
    for name, shape, dtype in _signature(model):
        if dtype.kind == "b":
            feed[name] = rng.random(shape) < 0.5
        elif dtype.kind in "iu":
            feed[name] = rng.integers(0, 4, size=shape).astype(dtype)
        elif dtype.kind in "OUS":
            size = int(np.prod(shape))
            feed[name] = np.array(["ab", "c", "de f"] * (size // 3 + 1), dtype=object)[:size].reshape(shape)
        else:  # float, and the ml_dtypes kinds (bfloat16, float8, float4, int4...)
            feed[name] = rng.standard_normal(shape).astype(np.float32).astype(dtype)
    return feed


_FLOAT_EDGES = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 65504.0, -65504.0, 1e30, 0.5, -0.5])

# Ops whose integer inputs are plain values, never shapes, axes, counts or indices: those inputs can take
# any value of their type without making the reference allocate without bound.
ELEMENTWISE_ARITHMETIC = frozenset(
    {
        "Abs", "Add", "BitShift", "BitwiseAnd", "BitwiseNot", "BitwiseOr", "BitwiseXor", "Cast", "CastLike",
        "Clip", "Div", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "Max", "Mean", "Min",
        "Mod", "Mul", "Neg", "Pow", "Sign", "Sub", "Sum",
    }
)  # fmt: skip


def edge_inputs(model: ModelProto, seed: int = 0) -> Feed:
    """Every float input holds each edge value (inf, nan, denormals, huge values, signed zeros) at least once
    when it has room, amid scaled-up normal values; integers read only by elementwise arithmetic take values
    over their whole range (extremes, -1, and shift counts at and beyond the bit width); other integers stay
    small, as they are often shapes, counts or indices."""
    rng = np.random.default_rng(seed)
    feed = sample_inputs(model, seed)
    arithmetic_only = _arithmetic_only_inputs(model)
    for name, value in feed.items():
        if value.dtype.kind == "f" and value.dtype.itemsize >= 2:
            feed[name] = _scatter(rng, value * 100, _FLOAT_EDGES).astype(value.dtype)
        elif value.dtype.kind in "iu" and name in arithmetic_only:
            info = np.iinfo(value.dtype)
            bits = 8 * value.dtype.itemsize
            edges = [info.min, info.max, 0, 1, bits - 1, bits, bits + 1, info.max // 2 + 1]
            if info.min < 0:
                edges += [-1, -bits, info.min + 1]
            wide = rng.integers(info.min, info.max, size=value.shape, dtype=value.dtype, endpoint=True)
            feed[name] = _scatter(rng, wide, np.array(edges, dtype=value.dtype))
    return feed


def uniform_integer_inputs(model: ModelProto, integer: int, seed: int = 0) -> Feed:
    """Every integer input filled with `integer` (an axis, a count, ties for sorting) and positive floats
    rounded to quarters, so that equal values occur (ties) and sizes and scales are valid."""
    rng = np.random.default_rng(seed)
    feed = sample_inputs(model, seed)
    for name, value in feed.items():
        if value.dtype.kind in "iu":
            feed[name] = np.full(value.shape, integer, dtype=value.dtype)
        elif value.dtype.kind == "f":
            positive = np.round((np.abs(rng.standard_normal(value.shape)) + 0.25) * 4) / 4
            feed[name] = positive.astype(value.dtype)
    return feed


def zero_inputs(model: ModelProto) -> Feed:
    """Every numeric input all zeros and every boolean False: a score no threshold lets through, a mask that
    selects nothing. Data-dependent shapes (NonZero, NonMaxSuppression, Compress, TopK by a count) come out
    empty, which is where OpenVINO returned one garbage detection for none."""
    feed = sample_inputs(model)
    return {name: np.zeros_like(v) if v.dtype.kind in "biuf" else v for name, v in feed.items()}


def validation_sets(model: ModelProto, given: Feed | None = None, edges: bool = True) -> list[Callable[[], Feed]]:
    """Makers of the sample sets validation compares on: the given (or a seeded) set and the all-zero set, then
    with `edges` the edge set and, when the model has integer inputs, the sets with fixed integers 0 and 2."""
    makers: list[Callable[[], Feed]] = [
        lambda: dict(given) if given else sample_inputs(model),
        lambda: zero_inputs(model),
    ]
    if not edges:
        return makers
    makers.append(lambda: edge_inputs(model))
    if any(dtype.kind in "iu" for _, _, dtype in _signature(model)):
        makers += [lambda: uniform_integer_inputs(model, 0), lambda: uniform_integer_inputs(model, 2)]
    return makers


def _scatter(rng: np.random.Generator, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """`values` with half its elements replaced by edge values, each edge value present when there is room."""
    flat = values.reshape(-1).copy()
    count = min(flat.size, max(len(edges), flat.size // 2))
    positions = rng.permutation(flat.size)[:count]
    with np.errstate(over="ignore"):  # 1e30 is inf in float16: an edge value too
        flat[positions] = np.resize(rng.permutation(edges), count)
    return flat.reshape(values.shape)


def _signature(model: ModelProto) -> list[tuple[str, list[int], np.dtype]]:
    result = []
    for value in tensor_inputs(model):
        tensor_type = value.type.tensor_type
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in tensor_type.shape.dim]  # dynamic: 1
        result.append((value.name, shape, np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))))
    return result


def _arithmetic_only_inputs(model: ModelProto) -> set[str]:
    readers: dict[str, set[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, set()).add(node.op_type if node.domain in ("", "ai.onnx") else "?")
    return {name for name, ops in readers.items() if ops <= ELEMENTWISE_ARITHMETIC}
