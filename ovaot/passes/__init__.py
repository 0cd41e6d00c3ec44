"""Graph passes: each one a named, self-contained rewrite of an ONNX model."""

from ovaot.passes.base import Pass, PassResult
from ovaot.passes.manager import OptLevel, PassConfig, run_passes, select_passes
from ovaot.passes.normalize import NORMALIZE_PASSES

__all__ = ["NORMALIZE_PASSES", "OptLevel", "Pass", "PassConfig", "PassResult", "run_passes", "select_passes"]
