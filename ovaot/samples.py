"""Seeded sample inputs made from a model's input signature, for verification runs at build time."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import ModelProto


def sample_inputs(model: ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal floats, small non-negative integers, random booleans; symbolic dimensions become 1."""
    rng = np.random.default_rng(seed)
    weights = {t.name for t in model.graph.initializer}
    feed: dict[str, np.ndarray] = {}
    for value in model.graph.input:
        if value.name in weights or not value.type.HasField("tensor_type"):
            continue
        tensor_type = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor_type.shape.dim]
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
        if dtype.kind == "b":
            feed[value.name] = rng.random(shape) < 0.5
        elif dtype.kind in "iu":
            feed[value.name] = rng.integers(0, 4, size=shape).astype(dtype)
        elif dtype.kind in "OUS":
            feed[value.name] = np.array(["ab", "c", "de f"] * (int(np.prod(shape)) // 3 + 1), dtype=object)[
                : int(np.prod(shape))
            ].reshape(shape)
        else:  # float, and the ml_dtypes kinds (bfloat16, float8, float4, int4...)
            feed[value.name] = rng.standard_normal(shape).astype(np.float32).astype(dtype)
    return feed


_FLOAT_EDGES = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 65504.0, -65504.0, 1e30, 0.5, -0.5])


def edge_inputs(model: ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Inputs at the edges: floats among inf, nan, denormals, huge values and signed zeros.

    Integers stay small (as in sample_inputs): they are often shapes, counts or indices, and values over their
    whole range would make the reference allocate without bound.
    """
    rng = np.random.default_rng(seed)
    feed = sample_inputs(model, seed)
    for name, value in feed.items():
        if value.dtype.kind == "f" and value.dtype.itemsize >= 2:
            picks = rng.choice(_FLOAT_EDGES, size=value.shape)
            feed[name] = np.where(rng.random(value.shape) < 0.5, picks, value * 100).astype(value.dtype)
    return feed
