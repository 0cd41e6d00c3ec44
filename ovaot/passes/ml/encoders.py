"""Categorical encoders of ai.onnx.ml as standard ONNX: OneHotEncoder and LabelEncoder over numbers.

String keys stay where they are (OpenVINO has no string compare); string values are looked up by a Gather that
the capability check leaves to the fallback, with the index computed on the device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import NodeProto

from ovaot.passes.emitter import INT64, Emitter, Unsupported, attributes


def _truncated(out: Emitter, x: str) -> str:
    """x toward zero, as onnxruntime's static_cast<int64_t> of a float before comparing with integer categories."""
    negative = out.op("Less", x, out.op("CastLike", out.const(np.float32(0), "zero"), x))
    return out.op("Where", negative, out.op("Ceil", x), out.op("Floor", x))


def lower_one_hot_encoder(node: NodeProto, out: Emitter) -> None:
    """(..., C) -> (..., C, K): 1.0 where x equals category k; a value in no category is all zeros (zeros=1)."""
    attrs = attributes(node)
    if not attrs.get("zeros", 1):
        raise Unsupported("zeros=0 (an unknown category is an error)")
    if "cats_int64s" not in attrs:
        raise Unsupported("string categories")
    x = node.input[0]
    categories = np.array(attrs["cats_int64s"], np.int64)
    if out.type(x) not in (INT64, None):  # float or double: compared after truncation, in float
        x, categories = _truncated(out, x), out.op("CastLike", out.const(categories, "categories"), x)
    else:
        x, categories = out.cast(x, INT64), out.const(categories, "categories")
    matches = out.op("Equal", out.op("Unsqueeze", x, out.const([-1], "last", np.int64)), categories)
    out.cast(matches, out=node.output[0])


def _table(attrs: dict[str, Any], kind: str) -> np.ndarray | None:
    """The keys or values of a LabelEncoder (opset 2 lists or opset 4 tensors) as an array."""
    if f"{kind}_tensor" in attrs:
        return np.asarray(attrs[f"{kind}_tensor"])
    for suffix, dtype in (("int64s", np.int64), ("floats", np.float32), ("strings", object)):
        if f"{kind}_{suffix}" in attrs:
            return np.array(attrs[f"{kind}_{suffix}"], dtype=dtype)
    return None


def _default(attrs: dict[str, Any], values: np.ndarray) -> np.ndarray:
    if "default_tensor" in attrs:
        return np.asarray(attrs["default_tensor"]).reshape(())
    if values.dtype == object:
        return np.array(attrs.get("default_string", "_Unused"), dtype=object)
    if values.dtype.kind == "f":
        return np.array(attrs.get("default_float", -0.0), values.dtype)
    return np.array(attrs.get("default_int64", -1), values.dtype)


def lower_label_encoder(node: NodeProto, out: Emitter) -> None:
    """Each element's value for its key (the first listed on duplicates), or the default: keys compared all at
    once, the matching index looked up in the values."""
    attrs = attributes(node)
    keys, values = _table(attrs, "keys"), _table(attrs, "values")
    if keys is None or values is None or len(keys) != len(values) or not len(keys):
        raise Unsupported("keys and values missing or of different lengths")
    if keys.dtype == object or keys.dtype.kind not in "iuf":
        raise Unsupported("string keys")
    if keys.dtype.kind == "f" and np.isnan(keys).any():
        raise Unsupported("a NaN key")
    x = node.input[0]
    keys_name = out.op("CastLike", out.const(keys, "keys"), x)
    matches = out.op("Equal", out.op("Unsqueeze", x, out.const([-1], "last", np.int64)), keys_name)
    found = out.reduce("ReduceMax", out.cast(matches), axis=-1)
    index = out.op("ArgMax", out.cast(matches), axis=-1, keepdims=0)  # the first match
    missing = out.op("Equal", found, out.const(np.float32(0), "zero"))
    index = out.op("Where", missing, out.const(np.int64(len(keys)), "default_slot"), index)
    table = np.concatenate([values, _default(attrs, values).reshape(1).astype(values.dtype)])
    out.op("Gather", out.const(table, "values"), index, out=node.output[0])
