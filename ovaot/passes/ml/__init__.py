"""ai.onnx.ml ops rewritten as standard ONNX ops that OpenVINO runs, so they leave the numpy fallback."""

from ovaot.passes.ml.lowering import ML_LOWERING_PASSES

__all__ = ["ML_LOWERING_PASSES"]
