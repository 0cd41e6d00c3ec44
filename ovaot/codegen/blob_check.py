"""The blob check: an exported blob, imported back, must compute what the compiled model it came from computes.

A package ships the blob, not the compiled model, and OpenVINO does not always serialise what it compiled:
2026.4 computes RotaryEmbedding right after compile_model and garbage after export_model -> import_model.
So each blob is imported again where it was exported and both run on the same seeded sample. Runs in the
export worker (OpenVINO's C API and numpy only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ovaot.errors import first_line
from ovaot.format.manifest import BlobCheckStatus as BlobCheck
from ovaot.tolerance import difference


def check_blob(
    core: Any, compiled: Any, blob: bytes, device: str, config: dict, samples: Sequence[Sequence[np.ndarray]]
) -> dict:
    """{"status": BlobCheck, "detail": ...}: whether `blob` (exported from `compiled`), imported on `device`,
    gives the compiled model's outputs on the first sample set (one array per input port) the compiled model
    runs. One set: the first inference of each new shape compiles kernels, which is most of the check's cost."""
    why_not = "no sample sets"
    for sample in samples:
        try:
            want = compiled.create_infer_request().infer(list(sample))
            break
        except (RuntimeError, TypeError, ValueError) as exc:
            why_not = first_line(exc)
    else:
        return _result(BlobCheck.NOT_RUN, f"the compiled model does not run on a seeded sample: {why_not}")
    try:
        imported = core.import_model(blob, device, config)
    except RuntimeError as exc:
        return _result(BlobCheck.FAILED, f"the blob does not import where it was exported: {first_line(exc)}")
    try:
        got = imported.create_infer_request().infer(list(sample))
    except RuntimeError as exc:
        return _result(BlobCheck.FAILED, f"the imported blob fails where the compiled model runs: {first_line(exc)}")
    finally:
        imported.close()
    for port, (mine, theirs) in enumerate(zip(got, want, strict=True)):
        how = difference(mine, theirs, "the compiled model")
        if how:
            names = ", ".join(sorted(compiled.outputs[port].names)) or f"output {port}"
            return _result(BlobCheck.FAILED, f"{names}: the imported blob {how}")
    return _result(BlobCheck.PASSED, "the imported blob gives the compiled model's outputs on a seeded sample")


def _result(status: BlobCheck, detail: str) -> dict:
    return {"status": str(status), "detail": detail}
