"""When two results of the same computation count as the same: what validation and the blob check accept.

Elementwise rtol/atol, plus an absolute slack relative to the tensor's largest finite magnitude: a layer that
sums thousands of products in another order can differ near zero by far more than 1e-5 (with the elementwise
test alone validation moved 24 of alexnet's nodes), while a wrong kernel is off by the values' size.
Numpy only: the export worker uses it without onnx or the openvino package.
"""

from __future__ import annotations

import numpy as np

RTOL, ATOL, SCALE_TOL = 1e-3, 1e-5, 1e-4
# A partition quantized to INT8 (or with compressed weights) against the float reference: 5% elementwise and of
# the tensor's largest magnitude. NNCF's INT8 squeezenet, resnet50 and densenet121 stayed within 1% of the float
# outputs on their calibration sets (artifacts/int8.md); a wrong kernel is off by far more.
QUANTIZED_RTOL, QUANTIZED_SCALE_TOL = 5e-2, 5e-2


def difference(got: np.ndarray, want: np.ndarray, source: str, quantized: bool = False) -> str:
    """'' when `got` is `want` within tolerance (nan where `want` has nan), else how they differ, naming
    `source` as where `want` came from ("onnx.reference"); `quantized`: the INT8 tolerance."""
    if got.shape != want.shape:
        return f"shape {list(got.shape)}, {source} {list(want.shape)}"
    if want.dtype.kind in "fc":
        rtol, scale = (QUANTIZED_RTOL, QUANTIZED_SCALE_TOL) if quantized else (RTOL, SCALE_TOL)
        if not np.allclose(got, want, rtol=rtol, atol=_atol(want, scale), equal_nan=True):
            return f"differs from {source} {_worst(got, want)}"
        return ""
    if not np.array_equal(got.astype(want.dtype), want):
        return f"differs from {source}"
    return ""


def _worst(got: np.ndarray, want: np.ndarray) -> str:
    """How far `got` is from `want` at most, where both are numbers (inf - inf and nan are not)."""
    with np.errstate(all="ignore"):
        gap = np.abs(got.astype(np.float64) - want)
    known = gap[~np.isnan(gap)]
    return f"by up to {float(known.max()):.3g}" if known.size else "(nan where a number is expected)"


def _atol(want: np.ndarray, scale: float = SCALE_TOL) -> float:
    finite = np.abs(want[np.isfinite(want)]) if want.size else want
    return ATOL + scale * float(finite.max(initial=0.0))
