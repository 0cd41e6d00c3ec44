"""Check a feed against the package's declared inputs before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ovaot.errors import InputError
from ovaot.format.manifest import TENSOR_DTYPES, ValueInfo


def check_feed(inputs: list[ValueInfo], feed: Mapping[str, Any]) -> dict[str, Any]:
    """Return the feed as name -> value; raise InputError naming the input and what was expected."""
    declared = {v.name: v for v in inputs}
    unknown = sorted(set(feed) - set(declared))
    if unknown:
        raise InputError(f"unknown input {unknown[0]!r}; the model's inputs are {sorted(declared)}")
    missing = [name for name in declared if name not in feed]
    if missing:
        raise InputError(f"missing input {missing[0]!r}; the model's inputs are {sorted(declared)}")
    return {name: _check_value(declared[name], value) for name, value in feed.items()}


def _check_value(info: ValueInfo, value: Any) -> Any:
    dtype_name = TENSOR_DTYPES.get(info.type)
    if dtype_name is None:
        return value  # sequences, optionals, maps: passed through to the engine as given
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise InputError(f"input {info.name!r} must be a numpy.ndarray of {dtype_name}, got {type(value).__name__}")
    if value.dtype.name != dtype_name and not (dtype_name == "object" and value.dtype.kind in "OU"):
        raise InputError(f"input {info.name!r} must have dtype {dtype_name} ({info.type}), got {value.dtype}")
    if info.shape is not None:
        if value.ndim != len(info.shape):
            raise InputError(
                f"input {info.name!r} must have rank {len(info.shape)} (shape {_shape_text(info.shape)}), "
                f"got shape {list(value.shape)}"
            )
        for axis, (want, got) in enumerate(zip(info.shape, value.shape)):
            if isinstance(want, int) and want != got:
                raise InputError(
                    f"input {info.name!r} must have shape {_shape_text(info.shape)}, got {list(value.shape)} "
                    f"(dimension {axis} is {got}, expected {want})"
                )
    return value


def _shape_text(shape: list) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
