"""ai.onnx.ml models from real converters, trained on scikit-learn's bundled data sets with fixed seeds:
skl2onnx for scikit-learn, onnxmltools for LightGBM and XGBoost. Shared by tests/test_ml_lowering.py and
benchmarks/ml.py."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import skl2onnx
from sklearn import compose, datasets, ensemble, linear_model, pipeline, preprocessing, svm

ML_OPSET = {"": 17, "ai.onnx.ml": 3}
ROWS = 257  # not a multiple of any vector width


def _data(load) -> tuple[np.ndarray, np.ndarray]:
    x, y = load(return_X_y=True)
    return x.astype(np.float32), y


def _sklearn(estimator, load, **options) -> tuple[onnx.ModelProto, np.ndarray]:
    x, y = _data(load)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(x, y)
        model = skl2onnx.to_onnx(estimator, x[:1], target_opset=ML_OPSET, **options)
    return model, x


def _onnxmltools(kind: str, load) -> tuple[onnx.ModelProto, np.ndarray]:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y = _data(load)
    types = [("input", FloatTensorType([None, x.shape[1]]))]
    if kind.startswith("lgbm"):
        import lightgbm

        estimator = (lightgbm.LGBMRegressor if kind.endswith("regressor") else lightgbm.LGBMClassifier)(
            n_estimators=25, num_leaves=15, random_state=0, verbose=-1
        )
        estimator.fit(x, y)
        return onnxmltools.convert_lightgbm(estimator, initial_types=types, target_opset=15, zipmap=False), x
    import xgboost

    estimator = (xgboost.XGBRegressor if kind.endswith("regressor") else xgboost.XGBClassifier)(
        n_estimators=25, max_depth=4, random_state=0
    )
    estimator.fit(x, y)
    return onnxmltools.convert_xgboost(estimator, initial_types=types, target_opset=15), x


MODELS = {
    "logistic_regression/iris": lambda: _sklearn(linear_model.LogisticRegression(max_iter=500), datasets.load_iris),
    "scaler_normalizer_logistic/breast_cancer": lambda: _sklearn(
        pipeline.make_pipeline(
            preprocessing.StandardScaler(), preprocessing.Normalizer(), linear_model.LogisticRegression(max_iter=500)
        ),
        datasets.load_breast_cancer,
    ),
    "gradient_boosting/iris": lambda: _sklearn(
        ensemble.GradientBoostingClassifier(n_estimators=20, random_state=0), datasets.load_iris
    ),
    "gradient_boosting_binary/breast_cancer": lambda: _sklearn(
        ensemble.GradientBoostingClassifier(n_estimators=30, random_state=0), datasets.load_breast_cancer
    ),
    "random_forest/digits": lambda: _sklearn(
        ensemble.RandomForestClassifier(n_estimators=15, random_state=0), datasets.load_digits
    ),
    "random_forest_string_labels/iris": lambda: _string_labels(),
    "gradient_boosting_regressor/diabetes": lambda: _sklearn(
        ensemble.GradientBoostingRegressor(n_estimators=30, random_state=0), datasets.load_diabetes
    ),
    "random_forest_regressor/diabetes": lambda: _sklearn(
        ensemble.RandomForestRegressor(n_estimators=10, random_state=0), datasets.load_diabetes
    ),
    "linear_regression/diabetes": lambda: _sklearn(linear_model.LinearRegression(), datasets.load_diabetes),
    "lgbm_classifier/iris": lambda: _onnxmltools("lgbm_classifier", datasets.load_iris),
    "lgbm_classifier_binary/breast_cancer": lambda: _onnxmltools("lgbm_classifier", datasets.load_breast_cancer),
    "lgbm_regressor/diabetes": lambda: _onnxmltools("lgbm_regressor", datasets.load_diabetes),
    "xgb_classifier/iris": lambda: _onnxmltools("xgb_classifier", datasets.load_iris),
    "xgb_classifier_binary/breast_cancer": lambda: _onnxmltools("xgb_classifier", datasets.load_breast_cancer),
    "xgb_regressor/diabetes": lambda: _onnxmltools("xgb_regressor", datasets.load_diabetes),
    "svc_rbf/iris": lambda: _sklearn(svm.SVC(), datasets.load_iris),
    "svc_poly_scaled/breast_cancer": lambda: _sklearn(
        pipeline.make_pipeline(preprocessing.StandardScaler(), svm.SVC(kernel="poly", degree=3)),
        datasets.load_breast_cancer,
    ),
    "svc_probability/iris": lambda: _sklearn(svm.SVC(probability=True, random_state=0), datasets.load_iris),
    "svc_probability_binary/breast_cancer": lambda: _sklearn(
        pipeline.make_pipeline(preprocessing.StandardScaler(), svm.SVC(probability=True, random_state=0)),
        datasets.load_breast_cancer,
    ),
    "svr_rbf/diabetes": lambda: _sklearn(svm.SVR(), datasets.load_diabetes),
    "column_transformer_one_hot/iris": lambda: _column_transformer(),
}
# The models whose probabilities come from libsvm's pairwise coupling, which stays in the fallback
IN_FALLBACK = {"svc_probability/iris": {"SVMClassifier"}, "svc_probability_binary/breast_cancer": {"SVMClassifier"}}


def _string_labels() -> tuple[onnx.ModelProto, np.ndarray]:
    x, y = _data(datasets.load_iris)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    estimator = ensemble.RandomForestClassifier(n_estimators=8, random_state=0).fit(x, names)
    return skl2onnx.to_onnx(estimator, x[:1], target_opset=ML_OPSET), x


def _column_transformer() -> tuple[onnx.ModelProto, np.ndarray]:
    """Scaled numeric columns and one-hot encoded categorical ones (iris petal sizes rounded to whole numbers)
    into a logistic regression: skl2onnx writes Gather, Cast and one OneHotEncoder per categorical column."""
    x, y = _data(datasets.load_iris)
    x[:, 2:] = np.round(x[:, 2:])
    estimator = pipeline.make_pipeline(
        compose.ColumnTransformer(
            [
                ("numeric", preprocessing.StandardScaler(), [0, 1]),
                ("categorical", preprocessing.OneHotEncoder(handle_unknown="ignore"), [2, 3]),
            ]
        ),
        linear_model.LogisticRegression(max_iter=500),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(x, y)
        return skl2onnx.to_onnx(estimator, x[:1], target_opset=ML_OPSET), x
