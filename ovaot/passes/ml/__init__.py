"""Lowering passes: ai.onnx.ml ops rewritten as standard ONNX ops that OpenVINO runs, so they leave the numpy
fallback. They change where an op runs, not what it computes, and so run at every level unless disabled."""

from ovaot.passes.ml.lowering import ML_LOWERING_PASSES, LowerMlOps

__all__ = ["ML_LOWERING_PASSES", "LowerMlOps"]
