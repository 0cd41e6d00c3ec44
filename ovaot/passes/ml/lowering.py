"""The ai.onnx.ml lowerings: preprocessing, linear models and tree ensembles as standard ONNX ops."""

from __future__ import annotations

from ovaot.passes.lowering import LowerOps
from ovaot.passes.ml import linear, trees

ML_DOMAIN = "ai.onnx.ml"

ML_LOWERING_PASSES = [
    LowerOps(
        "lower_ml_preprocessing",
        "rewrite ai.onnx.ml Scaler, Normalizer and Binarizer as element-wise standard ops",
        ML_DOMAIN,
        {"Scaler": linear.lower_scaler, "Normalizer": linear.lower_normalizer, "Binarizer": linear.lower_binarizer},
    ),
    LowerOps(
        "lower_ml_linear",
        "rewrite ai.onnx.ml LinearClassifier and LinearRegressor as MatMul, Add and the post-transform",
        ML_DOMAIN,
        {"LinearClassifier": linear.lower_linear_classifier, "LinearRegressor": linear.lower_linear_regressor},
    ),
    LowerOps(
        "lower_ml_tree_ensemble",
        "rewrite ai.onnx.ml tree ensembles as gathers (Hummingbird's tree traversal; perfect-tree traversal for "
        "shallow ensembles)",
        ML_DOMAIN,
        {"TreeEnsembleClassifier": trees.lower_classifier, "TreeEnsembleRegressor": trees.lower_regressor},
    ),
]
