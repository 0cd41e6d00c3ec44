"""The blob check: an exported blob, imported back, must compute what the compiled model it came from computes.

A package ships the blob, not the compiled model, and OpenVINO does not always serialise what it compiled:
2026.4 computes RotaryEmbedding right after compile_model and garbage after export_model -> import_model.
So each blob is imported again where it was exported and both run on the same seeded sample. Both sides use
it: the export worker after each export, `ovaot verify` against the IR on the host (OpenVINO's C API and numpy
only).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import numpy as np

from ovaot.errors import first_line
from ovaot.format.manifest import BlobCheckStatus
from ovaot.tolerance import difference


def check_blob(
    core: Any,
    compiled: Any,
    blob: bytes,
    device: str,
    config: dict,
    samples: Sequence[Sequence[np.ndarray]],
    release: ExitStack | None = None,
) -> dict:
    """{"status": BlobCheckStatus, "detail": ...} (with "imports": False where the blob does not import):
    whether `blob` (exported from `compiled`), imported on `device`, gives the compiled model's outputs on the
    first sample set (one array per input port) the compiled model runs. One set: the first inference of each
    new shape compiles kernels, which is most of the check's cost. The imported model is closed on return, or
    when `release` closes."""
    with ExitStack() as opened:
        # the compiled model runs while the blob imports: ctypes releases the GIL, and the two take about as long
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ovaot-blob-check") as pool:
            expected = pool.submit(_first_run, compiled, samples)
            try:
                imported = core.import_model(blob, device, config)
            except RuntimeError as exc:
                failed = _result(BlobCheckStatus.FAILED, f"the blob does not import here: {first_line(exc)}")
                return {**failed, "imports": False}
            (release if release is not None else opened).callback(imported.close)
            sample, want, why_not = expected.result()
        if want is None:
            return _result(BlobCheckStatus.NOT_RUN, f"the compiled model does not run on a seeded sample: {why_not}")
        try:
            got = imported.create_infer_request().infer(list(sample))
        except RuntimeError as exc:
            return _result(
                BlobCheckStatus.FAILED, f"the imported blob fails where the compiled model runs: {first_line(exc)}"
            )
    for port, (mine, theirs) in enumerate(zip(got, want, strict=True)):
        how = difference(mine, theirs, "the compiled model")
        if how:
            names = ", ".join(sorted(compiled.outputs[port].names)) or f"output {port}"
            return _result(BlobCheckStatus.FAILED, f"{names}: the imported blob {how}")
    return _result(BlobCheckStatus.PASSED, "the imported blob gives the compiled model's outputs on a seeded sample")


def _first_run(compiled: Any, samples: Sequence[Sequence[np.ndarray]]) -> tuple[Any, list | None, str]:
    """The first sample set the compiled model runs, and its outputs; else why not."""
    why_not = "no sample sets"
    for sample in samples:
        try:
            return sample, compiled.create_infer_request().infer(list(sample)), ""
        except (RuntimeError, TypeError, ValueError) as exc:
            why_not = first_line(exc)
    return None, None, why_not


# A dimension: its size, or (lower, upper) bounds of a dynamic one (upper -1: unbounded).
Dim = int | tuple[int, int]


def seeded_sets(
    signature: Sequence[tuple[Sequence[Dim], np.dtype]], seed: int = 0
) -> tuple[tuple[np.ndarray, ...], ...]:
    """The blob check's sample sets for inputs of these shapes and dtypes: every dynamic dimension 3 (within its
    bounds; a dimension of 1 hides defects that mix positions, as RotaryEmbedding's does), then every one 1,
    which runs where dimensions must match static ones (the second set only where it differs). Standard-normal
    floats, integers in [1, 4) (small: indices and positions stay valid; not 0: divisors), random booleans."""
    sets: list[tuple[np.ndarray, ...]] = []
    for wanted in (3, 1):
        rng = np.random.default_rng(seed)
        arrays = []
        for dims, dtype in signature:
            shape = [_size(d, wanted) for d in dims]
            if dtype.kind == "b":
                arrays.append(rng.random(shape) < 0.5)
            elif dtype.kind in "iu":  # never 0: an integer input may be a divisor or a block size (Col2Im's
                # block_shape of 0 raised SIGFPE inside OpenVINO and killed the process running it)
                arrays.append(rng.integers(1, 4, size=shape).astype(dtype))
            else:
                arrays.append(rng.standard_normal(shape).astype(np.float32).astype(dtype))
        if not any(all(a.shape == b.shape for a, b in zip(arrays, known)) for known in sets):
            sets.append(tuple(arrays))
    return tuple(sets)


def _size(dim: Dim, wanted: int) -> int:
    if isinstance(dim, int):
        return dim if dim >= 0 else wanted
    lower, upper = dim
    return max(lower, wanted if upper < 0 else min(wanted, upper), 1)


def _result(status: BlobCheckStatus, detail: str) -> dict:
    return {"status": str(status), "detail": detail}
