"""Check a feed against the package's declared inputs before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ovaot.errors import InputError
from ovaot.format.manifest import TENSOR_DTYPES, ValueInfo, parse_bounds_name


class FeedChecker:
    """Checks feeds against a package's declared inputs; built once per Session, as run() calls it every time."""

    def __init__(self, inputs: list[ValueInfo]) -> None:
        self._declared = {v.name: v for v in inputs}
        self._dtypes = {v.name: np.dtype(TENSOR_DTYPES[v.type]) for v in inputs if v.type in TENSOR_DTYPES}

    def __call__(self, feed: Mapping[str, Any]) -> dict[str, Any]:
        """Return the feed as name -> value; raise InputError naming the input and what was expected."""
        if feed.keys() != self._declared.keys():
            unknown = sorted(set(feed) - set(self._declared))
            if unknown:
                raise InputError(f"unknown input {unknown[0]!r}; the model's inputs are {sorted(self._declared)}")
            missing = [name for name in self._declared if name not in feed]
            raise InputError(f"missing input {missing[0]!r}; the model's inputs are {sorted(self._declared)}")
        checked = {}
        for name, value in feed.items():
            dtype = self._dtypes.get(name)
            if dtype is not None:
                value = _check_tensor(self._declared[name], dtype, value)
            checked[name] = value  # sequences, optionals, maps: passed through to the engine as given
        return checked


def _check_tensor(info: ValueInfo, dtype: np.dtype, value: Any) -> np.ndarray:
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise InputError(f"input {info.name!r} must be a numpy.ndarray of {dtype}, got {type(value).__name__}")
    if value.dtype != dtype and not (dtype.kind == "O" and value.dtype.kind in "OU"):
        raise InputError(f"input {info.name!r} must have dtype {dtype} ({info.type}), got {value.dtype}")
    if info.shape is not None:
        if value.ndim != len(info.shape):
            raise InputError(
                f"input {info.name!r} must have rank {len(info.shape)} (shape {_shape_text(info.shape)}), "
                f"got shape {list(value.shape)}"
            )
        for axis, (want, got) in enumerate(zip(info.shape, value.shape)):
            if (isinstance(want, int) and want != got) or (isinstance(want, str) and not _within(want, got)):
                raise InputError(
                    f"input {info.name!r} must have shape {_shape_text(info.shape)}, got {list(value.shape)} "
                    f"(dimension {axis} is {got}, expected {want})"
                )
    return value


def _within(dimension: str, size: int) -> bool:
    """Whether `size` fits a symbolic dimension: any size, except for --input-shape's bounded "lo..hi"."""
    bounds = parse_bounds_name(dimension)
    return bounds is None or bounds[0] <= size <= bounds[1]


def _shape_text(shape: list) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
