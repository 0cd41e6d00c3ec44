"""--verify-passes: run the model before and after each pass on seeded inputs and compare the outputs."""

from __future__ import annotations

import logging

import numpy as np
from onnx import ModelProto

from ovaot.compiler.samples import sample_inputs
from ovaot.errors import VerificationError
from ovaot.passes.base import Pass

log = logging.getLogger(__name__)


class PassVerifier:
    """A run_passes hook: compares onnx.reference outputs before and after each pass that changed the model."""

    def __init__(self, seed: int = 0, rtol: float = 1e-4, atol: float = 1e-5) -> None:
        self.seed, self.rtol, self.atol = seed, rtol, atol

    def __call__(self, step: int, p: Pass, before: ModelProto, after: ModelProto) -> None:
        if before.SerializeToString(deterministic=True) == after.SerializeToString(deterministic=True):
            return
        from ovaot.engines.reference import reference_evaluator  # onnx.reference only with --verify-passes

        feed = sample_inputs(before, self.seed)
        try:
            expected = reference_evaluator(before).run(None, feed)
        except Exception as exc:  # e.g. a contrib op a lowering pass rewrites: nothing to compare against
            log.warning("pass %s not verified: onnx.reference cannot run the model before it (%s)", p.name, exc)
            return
        actual = reference_evaluator(after).run(None, feed)
        for output, want, got in zip(before.graph.output, expected, actual):
            if isinstance(want, list) and want and isinstance(want[0], dict):  # ZipMap: rows of {label: score}
                want = [[row[key] for key in sorted(row)] for row in want]
                got = [[row[key] for key in sorted(row)] for row in got]
            want, got = np.asarray(want), np.asarray(got)
            if want.dtype.kind in "OUSb" or got.dtype.kind in "OUSb":  # labels, strings, flags: exactly
                if want.shape != got.shape or not np.array_equal(want, got):
                    raise VerificationError(f"verification failed: output {output.name!r} differs after the pass")
            elif want.shape != got.shape or not np.allclose(got, want, rtol=self.rtol, atol=self.atol, equal_nan=True):
                worst = float(np.max(np.abs(got.astype(np.float64) - want))) if want.shape == got.shape else "shape"
                raise VerificationError(
                    f"verification failed: output {output.name!r} differs after the pass (max difference {worst})"
                )
