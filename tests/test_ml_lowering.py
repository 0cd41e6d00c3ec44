"""ai.onnx.ml models from real converters (skl2onnx, onnxmltools for LightGBM and XGBoost) and built by hand:
lowered onto OpenVINO, ZipMap in the fallback, outputs as onnxruntime gives them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from ovaot.passes.ml import trees

from helpers import compile_and_load

for _needed in ("sklearn", "skl2onnx", "onnxmltools", "lightgbm", "xgboost"):
    pytest.importorskip(_needed, reason=f"{_needed} (a test dependency) is not installed")
from ml_models import IN_FALLBACK, MODELS, ROWS  # noqa: E402


def _rows(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.resize(x, (ROWS, x.shape[1])))


def assert_same(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for got, want in zip(ours, theirs, strict=True):
        if isinstance(want, list):  # ZipMap: a list of {label: probability}
            assert [list(d) for d in got] == [list(d) for d in want]
            got = np.array([list(d.values()) for d in got])
            want = np.array([list(d.values()) for d in want])
        got, want = np.asarray(got), np.asarray(want)
        if want.dtype.kind in "iuOUS":
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_converted_models_run_on_openvino_and_match_onnxruntime(name: str, tmp_path: Path):
    model, x = MODELS[name]()
    result, session = compile_and_load(model, tmp_path)
    reference = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {reference.get_inputs()[0].name: _rows(x)}
    assert_same(session.run(None, feed), reference.run(None, feed))
    in_fallback = {n.op_type for p in result.manifest.partitions if p.kind == "fallback" for n in p.nodes or []}
    ml_ops = {n.op_type for n in model.graph.node if n.domain == "ai.onnx.ml"} - {"ZipMap", *IN_FALLBACK.get(name, ())}
    assert not ml_ops & in_fallback, f"{sorted(ml_ops & in_fallback)} ran in the fallback"
    assert set(result.manifest.lowered) == {f"ai.onnx.ml.{op}" for op in ml_ops}  # what inspect shows
    fallback_nodes = [n for p in result.manifest.partitions if p.kind == "fallback" for n in p.nodes or []]
    if name not in IN_FALLBACK:  # one crossing at most: the device, then ZipMap or string labels
        assert len(result.manifest.partitions) <= 2, [(p.kind, len(p.nodes or [])) for p in result.manifest.partitions]
    limit = 3 + 2 * len(IN_FALLBACK.get(name, ()))  # an op kept in the fallback keeps the casts of its outputs
    assert len(fallback_nodes) <= limit, f"more than ZipMap and string labels in the fallback: {fallback_nodes}"
    for node in fallback_nodes:
        assert "(query_model, node alone)" not in node.reason or "unknown rank" in node.reason, node.reason


def random_trees(seed: int, trees: int, depth: int, features: int, targets: int) -> dict:
    """Random full trees as TreeEnsemble attributes: every branch mode, NaN rules and two weights on some leaves."""
    rng = np.random.default_rng(seed)
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    attrs: dict[str, list] = {
        k: []
        for k in (
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_values",
            "nodes_modes",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            "w_treeids",
            "w_nodeids",
            "w_ids",
            "w_weights",
        )
    }
    for t in range(trees):
        tree_depth = int(rng.integers(1, depth + 1))
        branches = 2**tree_depth - 1
        for n in range(2 * branches + 1):
            leaf = n >= branches
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(n)
            attrs["nodes_featureids"].append(0 if leaf else int(rng.integers(features)))
            attrs["nodes_values"].append(0.0 if leaf else float(np.round(rng.normal(), 1)))  # ties for EQ
            attrs["nodes_modes"].append("LEAF" if leaf else modes[int(rng.integers(len(modes)))])
            attrs["nodes_truenodeids"].append(0 if leaf else 2 * n + 1)
            attrs["nodes_falsenodeids"].append(0 if leaf else 2 * n + 2)
            attrs["nodes_missing_value_tracks_true"].append(int(rng.integers(2)) if not leaf else 0)
            if leaf:
                for k in rng.choice(targets, size=int(rng.integers(1, targets + 1)), replace=False):
                    attrs["w_treeids"].append(t)
                    attrs["w_nodeids"].append(n)
                    attrs["w_ids"].append(int(k))
                    attrs["w_weights"].append(float(rng.normal()))
    return attrs


def _ensemble(op_type: str, attrs: dict, features: int, outputs: list, **extra) -> onnx.ModelProto:
    prefix = "target" if op_type == "TreeEnsembleRegressor" else "class"
    attrs = {(prefix + k[1:] if k.startswith("w_") else k): v for k, v in attrs.items()}
    node = helper.make_node(op_type, ["x"], [o.name for o in outputs], domain="ai.onnx.ml", **attrs, **extra)
    graph = helper.make_graph(
        [node], "trees", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, features])], outputs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.checker.check_model(model)
    return model


def _features(seed: int, features: int) -> np.ndarray:
    x = np.round(np.random.default_rng(seed).normal(size=(ROWS, features)), 1).astype(np.float32)
    x[::7, 1] = np.nan  # missing values take the branch each node says
    return x


# the default strategy for these shallow ensembles in the fast tier; the others in the full suite
STRATEGIES = ["perfect traversal", *(pytest.param(s, marks=pytest.mark.slow) for s in ("traversal", "gemm"))]


def _use(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lower every tree ensemble by `strategy` (GEMM takes SUM and AVERAGE only, traversal the rest)."""
    monkeypatch.setattr(trees, "FORCED", {"perfect traversal": "perfect"}.get(strategy, strategy))


def _compare(model: onnx.ModelProto, x: np.ndarray, tmp_path: Path) -> None:
    _, session = compile_and_load(model, tmp_path)
    assert [p.kind for p in session.placements] == ["openvino"]
    reference = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert_same(session.run(None, {"x": x}), reference.run(None, {"x": x}))


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(
    ("aggregate", "transform"),
    [("SUM", "NONE"), ("AVERAGE", "LOGISTIC"), ("MIN", "NONE"), ("MAX", "SOFTMAX"), ("SUM", "SOFTMAX_ZERO")],
)
def test_regressor_every_mode_aggregate_and_transform(aggregate, transform, strategy, tmp_path, monkeypatch):
    _use(strategy, monkeypatch)
    attrs = random_trees(seed=len(aggregate + transform), trees=9, depth=4, features=5, targets=3)
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])]
    model = _ensemble(
        "TreeEnsembleRegressor",
        attrs,
        5,
        outputs,
        n_targets=3,
        aggregate_function=aggregate,
        post_transform=transform,
        base_values=[0.5, -1.0, 2.0],
    )
    _compare(model, _features(3, 5), tmp_path)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("transform", ["NONE", "LOGISTIC", "SOFTMAX"])
def test_classifier_multiclass_and_binary_with_every_transform(transform, strategy, tmp_path, monkeypatch):
    _use(strategy, monkeypatch)
    for classes, labels in ((4, {"classlabels_int64s": [3, 1, 4, 1_000_000]}), (1, {"classlabels_int64s": [0, 1]})):
        attrs = random_trees(seed=classes, trees=7, depth=3, features=4, targets=classes)
        outputs = [
            helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, max(classes, 2)]),
        ]
        model = _ensemble("TreeEnsembleClassifier", attrs, 4, outputs, post_transform=transform, **labels)
        _compare(model, _features(classes, 4), tmp_path / str(classes))


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer_and_binarizer(norm: str, tmp_path: Path):
    nodes = [
        helper.make_node("Normalizer", ["x"], ["n"], domain="ai.onnx.ml", norm=norm),
        helper.make_node("Binarizer", ["n"], ["y"], domain="ai.onnx.ml", threshold=0.1),
    ]
    graph = helper.make_graph(
        nodes,
        "pre",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 6])],
        [
            helper.make_tensor_value_info("n", TensorProto.FLOAT, [None, 6]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 6]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    x = np.random.default_rng(5).normal(size=(ROWS, 6)).astype(np.float32)
    x[3] = 0  # an all-zero row divides by the smallest norm, not by zero
    _compare(model, x, tmp_path)


def _svm_model(op_type: str, kernel: str, features: int, outputs: list, **attrs) -> onnx.ModelProto:
    params = {"LINEAR": [0.0, 0.0, 0.0], "POLY": [0.2, 0.5, 3.0], "RBF": [0.3, 0.0, 0.0], "SIGMOID": [0.1, -0.2, 0.0]}
    node = helper.make_node(
        op_type,
        ["x"],
        [o.name for o in outputs],
        domain="ai.onnx.ml",
        kernel_type=kernel,
        kernel_params=params[kernel],
        **attrs,
    )
    graph = helper.make_graph(
        [node], "svm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, features])], outputs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("kernel", ["LINEAR", "POLY", "RBF", "SIGMOID"])
@pytest.mark.parametrize("classes", [2, 4])
def test_svm_classifier_every_kernel_against_onnxruntime(kernel, classes, tmp_path):
    rng = np.random.default_rng(classes)
    per_class = [int(v) for v in rng.integers(1, 5, size=classes)]
    vectors, features = sum(per_class), 3
    outputs = [
        helper.make_tensor_value_info("label", TensorProto.INT64, [None]),
        helper.make_tensor_value_info(
            "scores", TensorProto.FLOAT, [None, classes * (classes - 1) // 2 if classes > 2 else 2]
        ),
    ]
    model = _svm_model(
        "SVMClassifier",
        kernel,
        features,
        outputs,
        classlabels_ints=[7, 3, 5, 1][:classes],
        vectors_per_class=per_class,
        support_vectors=rng.normal(size=vectors * features).round(2).tolist(),
        coefficients=rng.normal(size=(classes - 1) * vectors).round(2).tolist(),
        rho=rng.normal(size=classes * (classes - 1) // 2).round(2).tolist(),
    )
    _compare(model, np.round(np.random.default_rng(5).normal(size=(ROWS, features)), 2).astype(np.float32), tmp_path)


@pytest.mark.parametrize("kernel", ["LINEAR", "POLY", "RBF", "SIGMOID"])
@pytest.mark.parametrize("one_class", [0, 1])
def test_svm_regressor_every_kernel_against_onnxruntime(kernel, one_class, tmp_path):
    rng = np.random.default_rng(len(kernel))
    vectors, features = 6, 4
    model = _svm_model(
        "SVMRegressor",
        kernel,
        features,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])],
        n_supports=vectors,
        one_class=one_class,
        support_vectors=rng.normal(size=vectors * features).round(2).tolist(),
        coefficients=rng.normal(size=vectors).round(2).tolist(),
        rho=[0.25],
    )
    _compare(model, np.round(np.random.default_rng(6).normal(size=(ROWS, features)), 2).astype(np.float32), tmp_path)


def _label_encoder(keys: np.ndarray, values: np.ndarray, default, opset: int) -> onnx.ModelProto:
    from onnx import numpy_helper

    def kind(array: np.ndarray) -> str:
        return {"i": "int64s", "f": "floats", "O": "strings"}[array.dtype.kind]

    if opset >= 4:
        attrs = {
            "keys_tensor": numpy_helper.from_array(keys),
            "values_tensor": numpy_helper.from_array(values),
            "default_tensor": numpy_helper.from_array(np.array([default], values.dtype)),
        }
    else:
        attrs = {f"keys_{kind(keys)}": keys.tolist(), f"values_{kind(values)}": values.tolist()}
        attrs[f"default_{kind(values)[:-1]}"] = default
    types = {"i": TensorProto.INT64, "f": TensorProto.FLOAT, "O": TensorProto.STRING}
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", **attrs)
    graph = helper.make_graph(
        [node],
        "encoder",
        [helper.make_tensor_value_info("x", types[keys.dtype.kind], [None, 3])],
        [helper.make_tensor_value_info("y", types[values.dtype.kind], [None, 3])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", opset)]
    )
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("opset", [2, 4])
@pytest.mark.parametrize("case", ["int to int", "float to float", "int to string"])
def test_label_encoder_numeric_keys_against_onnxruntime(case, opset, tmp_path):
    keys = np.array([7, -2, 11, 3, 7], np.int64) if case.startswith("int") else np.array([0.5, -1.25, 3.0], np.float32)
    values = {
        "int to int": (np.array([10, 20, 30, 40, 50], np.int64), 99),
        "float to float": (np.array([1.5, 2.5, -3.5], np.float32), -7.0),
        "int to string": (np.array(["a", "bb", "c", "dd", "e"], dtype=object), "none"),
    }[case]
    model = _label_encoder(keys, *values, opset)
    rng = np.random.default_rng(1)
    x = rng.choice(np.concatenate([keys, keys[:2] + 1]), size=(ROWS, 3)).astype(keys.dtype)
    _, session = compile_and_load(model, tmp_path)
    reference = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert_same(session.run(None, {"x": x}), reference.run(None, {"x": x}))
    assert session.placements[0].kind == "openvino"  # the keys are compared on the device


def _corpus(seed: int, rows: int) -> np.ndarray:
    words = (
        "the cat sat on a mat Dogs and cats living together barked at red birds nothing here quick brown fox".split()
    )
    rng = np.random.default_rng(seed)
    texts = [
        " ".join(rng.choice(words, size=int(rng.integers(0, 9)))) + rng.choice(["", ",", "!", " ;"])
        for _ in range(rows)
    ]
    return np.array(texts, dtype=object)


@pytest.mark.parametrize("vectorizer", ["tfidf", "count_bigrams", "tfidf_trigrams_cased"])
def test_text_pipelines_tokenize_in_the_fallback_and_classify_on_the_device(vectorizer, tmp_path):
    """skl2onnx's text vectorizers write com.microsoft.Tokenizer; the locale option is C.UTF-8 because
    onnxruntime's StringNormalizer fails to build with its default en_US.UTF-8 on a host without that locale."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import StringTensorType
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = _corpus(0, 120)
    labels = np.array([("cat" in t) + ("dog" in t.lower()) for t in texts])
    make = {
        "tfidf": lambda: TfidfVectorizer(),
        "count_bigrams": lambda: CountVectorizer(ngram_range=(1, 2)),
        "tfidf_trigrams_cased": lambda: TfidfVectorizer(lowercase=False, ngram_range=(1, 3)),
    }[vectorizer]
    vectorize = make()
    pipe = make_pipeline(vectorize, LogisticRegression(max_iter=500)).fit(texts, labels)
    model = convert_sklearn(
        pipe,
        initial_types=[("text", StringTensorType([None, 1]))],
        target_opset={"": 17, "ai.onnx.ml": 3},
        options={id(vectorize): {"locale": "C.UTF-8"}},
    )
    assert "Tokenizer" in {n.op_type for n in model.graph.node if n.domain == "com.microsoft"}
    result, session = compile_and_load(model, tmp_path)
    reference = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feed = {"text": _corpus(1, ROWS).reshape(-1, 1)}
    assert_same(session.run(None, feed), reference.run(None, feed))
    string_ops = {"Tokenizer", "StringNormalizer", "TfIdfVectorizer", "Flatten", "Reshape", "ZipMap", "Gather"}
    in_fallback = {n.op_type for p in result.manifest.partitions if p.kind == "fallback" for n in p.nodes or []}
    assert in_fallback <= string_ops, in_fallback - string_ops
    assert "LinearClassifier" in {n.op_type for n in model.graph.node}  # lowered: it runs on the device


def _tree_ensemble_5(seed: int, trees: int, features: int, targets: int, **extra) -> onnx.ModelProto:
    """Random full trees as ai.onnx.ml TreeEnsemble (opset 5): branch nodes and leaves in separate arrays."""
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    nodes: dict[str, list] = {k: [] for k in ("feature", "split", "mode", "true", "true_leaf", "false", "false_leaf")}
    missing, leaf_target, leaf_weight, roots = [], [], [], []
    for _ in range(trees):
        depth = int(rng.integers(1, 5))
        branches, base, leaf_base = 2**depth - 1, len(nodes["split"]), len(leaf_target)
        roots.append(base)
        for i in range(branches):
            nodes["feature"].append(int(rng.integers(features)))
            nodes["split"].append(float(np.round(rng.normal(), 1)))
            nodes["mode"].append(int(rng.integers(6)))
            missing.append(int(rng.integers(2)))
            for side, child in (("true", 2 * i + 1), ("false", 2 * i + 2)):
                leaf = child >= branches
                nodes[side].append(leaf_base + child - branches if leaf else base + child)
                nodes[f"{side}_leaf"].append(int(leaf))
        for _ in range(branches + 1):
            leaf_target.append(int(rng.integers(targets)))
            leaf_weight.append(float(rng.normal()))
    node = helper.make_node(
        "TreeEnsemble",
        ["x"],
        ["y"],
        domain="ai.onnx.ml",
        nodes_featureids=nodes["feature"],
        nodes_splits=numpy_helper.from_array(np.array(nodes["split"], np.float32)),
        nodes_modes=numpy_helper.from_array(np.array(nodes["mode"], np.uint8)),
        nodes_truenodeids=nodes["true"],
        nodes_trueleafs=nodes["true_leaf"],
        nodes_falsenodeids=nodes["false"],
        nodes_falseleafs=nodes["false_leaf"],
        nodes_missing_value_tracks_true=missing,
        leaf_targetids=leaf_target,
        leaf_weights=numpy_helper.from_array(np.array(leaf_weight, np.float32)),
        tree_roots=roots,
        n_targets=targets,
        **extra,
    )
    graph = helper.make_graph(
        [node],
        "trees5",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, targets])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize(("aggregate", "transform"), [(1, 0), (0, 2), (2, 0), (3, 1), (1, 3)])
def test_tree_ensemble_opset_5_every_aggregate_and_transform(aggregate, transform, strategy, tmp_path, monkeypatch):
    """The transform as the ONNX specification numbers it (1 SOFTMAX, 2 LOGISTIC, 3 SOFTMAX_ZERO), applied to
    onnxruntime's untransformed scores: onnxruntime 1.32 reads the enum otherwise for this op (2 gives a softmax)
    and skips LOGISTIC for one target (microsoft/onnxruntime#26596, #24862)."""
    _use(strategy, monkeypatch)
    seed = aggregate * 5 + transform
    model = _tree_ensemble_5(seed, 8, 5, 3, aggregate_function=aggregate, post_transform=transform)
    untransformed = _tree_ensemble_5(seed, 8, 5, 3, aggregate_function=aggregate, post_transform=0)
    x = _features(4, 5)
    (scores,) = onnxruntime.InferenceSession(untransformed.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    if transform == 3:  # SOFTMAX_ZERO: zero scores take no share
        exp = np.where(scores == 0, 0, exp)
    want = {0: scores, 1: exp / exp.sum(axis=1, keepdims=True), 2: 1 / (1 + np.exp(-scores))}.get(transform)
    if transform == 3:
        total = exp.sum(axis=1, keepdims=True)
        want = np.where(total == 0, 0.5, exp / np.where(total == 0, 1, total))
    _, session = compile_and_load(model, tmp_path)
    assert [p.kind for p in session.placements] == ["openvino"]
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["random_forest/digits", "svc_rbf/iris", "random_forest_string_labels/iris"])
def test_verify_passes_checks_the_lowerings_of_converted_models(name: str, tmp_path: Path):
    """--verify-passes runs each lowering's before and after in onnx.reference: string labels compare exactly,
    ZipMap's dicts by value, and a forest's GatherElements (onnx.reference's own failed on it) by ovaot's kernel."""
    model, _ = MODELS[name]()
    result, _ = compile_and_load(model, tmp_path, verify_passes=True)
    assert result.manifest.lowered


def test_verify_passes_leaves_a_pass_it_cannot_check_with_a_warning(tmp_path: Path, caplog):
    """onnx.reference has no com.microsoft kernels: lower_qoperator cannot be checked and says so."""
    node = helper.make_node("QLinearSigmoid", ["x", "s", "z", "s", "z"], ["y"], domain="com.microsoft")
    graph = helper.make_graph(
        [node],
        "q",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [4])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [4])],
        [
            helper.make_tensor("s", TensorProto.FLOAT, [], [0.05]),
            helper.make_tensor("z", TensorProto.UINT8, [], [128]),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    with caplog.at_level("WARNING"):
        compile_and_load(model, tmp_path, verify_passes=True)
    assert "pass lower_qoperator not verified" in caplog.text
