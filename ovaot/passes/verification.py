"""--verify-passes: run the model before and after each pass on seeded inputs and compare the outputs."""

from __future__ import annotations

import numpy as np
from onnx import ModelProto

from ovaot.compiler.samples import sample_inputs
from ovaot.errors import VerificationError
from ovaot.passes.base import Pass


class PassVerifier:
    """A run_passes hook: compares onnx.reference outputs before and after each pass that changed the model."""

    def __init__(self, seed: int = 0, rtol: float = 1e-4, atol: float = 1e-5) -> None:
        self.seed, self.rtol, self.atol = seed, rtol, atol

    def __call__(self, step: int, p: Pass, before: ModelProto, after: ModelProto) -> None:
        if before.SerializeToString(deterministic=True) == after.SerializeToString(deterministic=True):
            return
        from ovaot.engines.reference import reference_evaluator  # onnx.reference only with --verify-passes

        feed = sample_inputs(before, self.seed)
        expected = reference_evaluator(before).run(None, feed)
        actual = reference_evaluator(after).run(None, feed)
        for output, want, got in zip(before.graph.output, expected, actual):
            want, got = np.asarray(want), np.asarray(got)
            if want.shape != got.shape or not np.allclose(got, want, rtol=self.rtol, atol=self.atol, equal_nan=True):
                worst = float(np.max(np.abs(got.astype(np.float64) - want))) if want.shape == got.shape else "shape"
                raise VerificationError(
                    f"verification failed: output {output.name!r} differs after the pass (max difference {worst})"
                )
