"""Graph passes: each one a named, self-contained rewrite of an ONNX model."""

from ovaot.passes.base import Pass, PassResult, run_passes
from ovaot.passes.normalize import NORMALIZE_PASSES

__all__ = ["NORMALIZE_PASSES", "Pass", "PassResult", "run_passes"]
