"""The ai.onnx.ml lowerings: preprocessing, linear models and tree ensembles as standard ONNX ops."""

from __future__ import annotations

from ovaot.passes.lowering import LowerOps
from ovaot.passes.ml import encoders, linear, svm, trees

ML_DOMAIN = "ai.onnx.ml"

ML_LOWERING_PASSES = [
    LowerOps(
        "lower_ml_preprocessing",
        "rewrite ai.onnx.ml Scaler, Normalizer and Binarizer as element-wise standard ops",
        ML_DOMAIN,
        {"Scaler": linear.lower_scaler, "Normalizer": linear.lower_normalizer, "Binarizer": linear.lower_binarizer},
    ),
    LowerOps(
        "lower_ml_encoders",
        "rewrite ai.onnx.ml OneHotEncoder and LabelEncoder over numeric keys as comparisons and gathers",
        ML_DOMAIN,
        {"OneHotEncoder": encoders.lower_one_hot_encoder, "LabelEncoder": encoders.lower_label_encoder},
    ),
    LowerOps(
        "lower_ml_linear",
        "rewrite ai.onnx.ml LinearClassifier and LinearRegressor as MatMul, Add and the post-transform",
        ML_DOMAIN,
        {"LinearClassifier": linear.lower_linear_classifier, "LinearRegressor": linear.lower_linear_regressor},
    ),
    LowerOps(
        "lower_ml_svm",
        "rewrite ai.onnx.ml SVMClassifier and SVMRegressor as kernel and pair-score MatMuls (multiclass "
        "probabilities stay in the fallback)",
        ML_DOMAIN,
        {"SVMClassifier": svm.lower_svm_classifier, "SVMRegressor": svm.lower_svm_regressor},
    ),
    LowerOps(
        "lower_ml_tree_ensemble",
        "rewrite ai.onnx.ml tree ensembles as gathers (Hummingbird's tree traversal; perfect-tree traversal for "
        "shallow ensembles)",
        ML_DOMAIN,
        {
            "TreeEnsembleClassifier": trees.lower_classifier,
            "TreeEnsembleRegressor": trees.lower_regressor,
            "TreeEnsemble": trees.lower_tree_ensemble,
        },
    ),
    LowerOps(  # last: the models before it lowered, shape inference gives the ranks it needs
        "lower_ml_feature_extractor",
        "rewrite ai.onnx.ml ArrayFeatureExtractor as a Gather on the last axis",
        ML_DOMAIN,
        {"ArrayFeatureExtractor": linear.lower_array_feature_extractor},
    ),
]
