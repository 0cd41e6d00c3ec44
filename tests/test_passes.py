"""Every optimisation pass: it changes a model it should change, and the outputs stay equal."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from ovaot.compiler.samples import sample_inputs
from ovaot.errors import CompileError, UsageError, VerificationError
from ovaot.passes import OptLevel, PassConfig, PassResult, run_passes, select_passes
from ovaot.passes.registry import optimisation_passes
from ovaot.passes.verification import PassVerifier

HEADER = '<ir_version: 8, opset_import: ["" : 17]>\n'
ML_HEADER = '<ir_version: 8, opset_import: ["" : 17, "ai.onnx.ml" : 3]>\n'
MICROSOFT_HEADER = '<ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1]>\n'

# name -> (model text, {initializer: value}); each model is one the pass must change.
CASES: dict[str, tuple[str, dict[str, np.ndarray]]] = {
    "fold_shapes": ("g (float[2,3] x) => (float[2,3] y) { s = Shape (x) \n y = Reshape (x, s) }", {}),
    "eliminate_identity": ("g (float[2,3] x) => (float[2,3] y) { a = Identity (x) \n y = Relu (a) }", {}),
    "eliminate_nop_dropout": ("g (float[2,3] x) => (float[2,3] y) { a, m = Dropout (x) \n y = Relu (a) }", {}),
    "eliminate_nop_cast": ("g (float[2,3] x) => (float[2,3] y) { a = Cast <to = 1> (x) \n y = Relu (a) }", {}),
    "eliminate_nop_flatten": ("g (float[2,3] x) => (float[2,3] y) { a = Flatten <axis = 1> (x) \n y = Relu (a) }", {}),
    "eliminate_nop_transpose": (
        "g (float[2,3] x) => (float[2,3] y) { a = Transpose <perm = [0, 1]> (x) \n y = Relu (a) }",
        {},
    ),
    "eliminate_nop_pad": (
        "g (float[2,3] x) => (float[2,3] y) { a = Pad (x, p) \n y = Relu (a) }",
        {"p": np.zeros(4, np.int64)},
    ),
    "eliminate_nop_concat": ("g (float[2,3] x) => (float[2,3] y) { a = Concat <axis = 0> (x) \n y = Relu (a) }", {}),
    "eliminate_nop_split": ("g (float[2,3] x) => (float[2,3] y) { a = Split <axis = 0> (x) \n y = Relu (a) }", {}),
    "eliminate_nop_expand": (
        "g (float[2,3] x) => (float[2,3] y) { a = Expand (x, s) \n y = Relu (a) }",
        {"s": np.array([1, 1], np.int64)},
    ),
    "eliminate_nop_reshape": (
        "g (float[2,3] x) => (float[2,3] y) { a = Reshape (x, s) \n y = Relu (a) }",
        {"s": np.array([2, 3], np.int64)},
    ),
    "eliminate_nop_monotone_argmax": (
        "g (float[2,3] x) => (int64[2,1] y) { a = Exp (x) \n y = ArgMax <axis = 1> (a) }",
        {},
    ),
    "eliminate_nop_with_unit": (
        "g (float[2,3] x) => (float[2,3] y) { a = Mul (x, one) \n y = Relu (a) }",
        {"one": np.ones(1, np.float32)},
    ),
    "eliminate_if_with_const_cond": (
        "g (float[2,3] x) => (float[2,3] y) { y = If (c) <then_branch = t () => (float[2,3] r) { r = Relu (x) },"
        " else_branch = e () => (float[2,3] r) { r = Neg (x) }> }",
        {"c": np.array(True)},
    ),
    "eliminate_consecutive_idempotent_ops": (
        "g (float[2,3] x) => (float[2,3] y) { a = Relu (x) \n b = Relu (a) \n y = Exp (b) }",
        {},
    ),
    "eliminate_deadend": ("g (float[2,3] x) => (float[2,3] y) { a = Relu (x) \n b = Sigmoid (x) \n y = Tanh (a) }", {}),
    "eliminate_unused_initializer": (
        "g (float[2,3] x) => (float[2,3] y) { y = Relu (x) }",
        {"unused": np.ones(5, np.float32)},
    ),
    "eliminate_duplicate_initializer": (
        "g (float[2,3] x) => (float[2,3] y) { a = Mul (x, w1) \n y = Add (a, w2) }",
        {"w1": np.full(3, 0.5, np.float32), "w2": np.full(3, 0.5, np.float32)},
    ),
    "fold_constants": (
        "g (float[2,3] x) => (float[2,3] y) { c = Add (k1, k2) \n y = Mul (x, c) }",
        {"k1": np.arange(3, dtype=np.float32), "k2": np.full(3, 2.0, np.float32)},
    ),
    "lower_ml_preprocessing": (
        "g (float[2,3] x) => (float[2,3] y) { a = ai.onnx.ml.Scaler <offset = [0.5, 1.0, -1.0], scale = [2.0]> (x)"
        '\n y = ai.onnx.ml.Normalizer <norm = "L2"> (a) }',
        {},
    ),
    "lower_ml_linear": (
        "g (float[2,3] x) => (float[2,2] y) { y = ai.onnx.ml.LinearRegressor "
        "<coefficients = [0.5, -1.0, 2.0, 1.0, 0.0, -0.5], intercepts = [0.1, -0.2], targets = 2> (x) }",
        {},
    ),
    "lower_ml_svm": (
        "g (float[2,3] x) => (float[2,1] y) { y = ai.onnx.ml.SVMRegressor <n_supports = 2, "
        'kernel_type = "RBF", kernel_params = [0.5, 0.0, 0.0], support_vectors = [0.1, 0.2, 0.3, -1.0, 0.5, 2.0], '
        "coefficients = [1.5, -0.5], rho = [0.25]> (x) }",
        {},
    ),
    "lower_ml_encoders": (
        "g (int64[2,3] x) => (int64[2,3] y) { y = ai.onnx.ml.LabelEncoder <keys_int64s = [1, 5, 3], "
        "values_int64s = [10, 50, 30], default_int64 = -7> (x) }",
        {},
    ),
    "lower_ml_feature_extractor": (
        "g (float[2,3] x) => (float[2,2] y) { y = ai.onnx.ml.ArrayFeatureExtractor (x, i) }",
        {"i": np.array([2, 0], np.int64)},
    ),
    "lower_ml_tree_ensemble": (
        "g (float[2,3] x) => (float[2,1] y) { y = ai.onnx.ml.TreeEnsembleRegressor <n_targets = 1, "
        "nodes_treeids = [0, 0, 0], nodes_nodeids = [0, 1, 2], nodes_featureids = [2, 0, 0], "
        'nodes_values = [0.3, 0.0, 0.0], nodes_modes = ["BRANCH_LEQ", "LEAF", "LEAF"], '
        "nodes_truenodeids = [1, 0, 0], nodes_falsenodeids = [2, 0, 0], target_treeids = [0, 0], "
        "target_nodeids = [1, 2], target_ids = [0, 0], target_weights = [-1.5, 2.5]> (x) }",
        {},
    ),
    "fuse_bn_into_conv": (
        "g (float[1,2,5,5] x) => (float[1,3,3,3] y) { c = Conv (x, w, b) \n"
        " y = BatchNormalization (c, s, bias, mean, var) }",
        {
            "w": np.linspace(-1, 1, 54, dtype=np.float32).reshape(3, 2, 3, 3),
            "b": np.array([0.1, 0.2, 0.3], np.float32),
            "s": np.array([1.5, 0.5, 1.0], np.float32),
            "bias": np.array([0.0, 1.0, -1.0], np.float32),
            "mean": np.array([0.2, -0.1, 0.0], np.float32),
            "var": np.array([1.0, 2.0, 0.5], np.float32),
        },
    ),
    "fuse_add_bias_into_conv": (
        "g (float[1,2,5,5] x) => (float[1,3,3,3] y) { c = Conv (x, w) \n y = Add (c, b) }",
        {
            "w": np.linspace(-1, 1, 54, dtype=np.float32).reshape(3, 2, 3, 3),
            "b": np.array([0.1, 0.2, 0.3], np.float32).reshape(1, 3, 1, 1),
        },
    ),
    "fuse_matmul_add_bias_into_gemm": (
        "g (float[2,3] x) => (float[2,4] y) { m = MatMul (x, w) \n y = Add (m, b) }",
        {"w": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4), "b": np.arange(4, dtype=np.float32)},
    ),
    "fuse_transpose_into_gemm": (
        "g (float[3,2] x) => (float[2,4] y) { t = Transpose <perm = [1, 0]> (x) \n y = Gemm (t, w) }",
        {"w": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)},
    ),
    "fuse_consecutive_transposes": (
        "g (float[2,3,4] x) => (float[4,2,3] y) { a = Transpose <perm = [1, 0, 2]> (x) \n"
        " y = Transpose <perm = [2, 1, 0]> (a) }",
        {},
    ),
    "fuse_pad_into_conv": (
        "g (float[1,2,5,5] x) => (float[1,3,5,5] y) { p = Pad (x, pads) \n y = Conv (p, w) }",
        {
            "pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64),
            "w": np.linspace(-1, 1, 54, dtype=np.float32).reshape(3, 2, 3, 3),
        },
    ),
    "fuse_pad_into_pool": (
        "g (float[1,2,5,5] x) => (float[1,2,5,5] y) { p = Pad (x, pads) \n"
        " y = AveragePool <kernel_shape = [3, 3]> (p) }",
        {"pads": np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)},
    ),
    "fuse_consecutive_squeezes": (
        "g (float[1,2,1,3] x) => (float[2,3] y) { a = Squeeze (x, a0) \n y = Squeeze (a, a1) }",
        {"a0": np.array([0], np.int64), "a1": np.array([1], np.int64)},
    ),
    "fuse_consecutive_unsqueezes": (
        "g (float[2,3] x) => (float[1,2,1,3] y) { a = Unsqueeze (x, a0) \n y = Unsqueeze (a, a1) }",
        {"a0": np.array([0], np.int64), "a1": np.array([2], np.int64)},
    ),
    "fuse_consecutive_concats": (
        "g (float[2,3] x) => (float[6,3] y) { a = Concat <axis = 0> (x, x) \n y = Concat <axis = 0> (a, x) }",
        {},
    ),
    "fuse_consecutive_log_softmax": (
        "g (float[2,3] x) => (float[2,3] y) { a = Softmax <axis = 1> (x) \n y = Log (a) }",
        {},
    ),
    "fuse_consecutive_reduce_unsqueeze": (
        "g (float[2,3] x) => (float[2,1] y) { a = ReduceSum <keepdims = 0> (x, ax) \n y = Unsqueeze (a, ax) }",
        {"ax": np.array([1], np.int64)},
    ),
    "fuse_consecutive_slices": (
        "g (float[4,6] x) => (float[2,3] y) { a = Slice (x, s0, e0, ax0, st) \n y = Slice (a, s1, e1, ax1, st) }",
        {
            "s0": np.array([1], np.int64),
            "e0": np.array([3], np.int64),
            "ax0": np.array([0], np.int64),
            "s1": np.array([2], np.int64),
            "e1": np.array([5], np.int64),
            "ax1": np.array([1], np.int64),
            "st": np.array([1], np.int64),
        },
    ),
    "fuse_concat_into_reshape": (
        "g (float[2,3] x) => (float[3,2] y) { s = Shape (x) \n d = Gather <axis = 0> (s, i) \n"
        " n = Concat <axis = 0> (three, d) \n y = Reshape (x, n) }",
        {"i": np.array([0], np.int64), "three": np.array([3], np.int64)},
    ),
    "eliminate_common_subexpression": (
        "g (float[2,3] x) => (float[2,3] y) { a = Relu (x) \n b = Relu (x) \n y = Add (a, b) }",
        {},
    ),
    "eliminate_shape_gather": (
        "g (float[3,2] x) => (float[3,2] y) { s = Shape (x) \n d = Gather <axis = 0> (s, i) \n"
        " t = Cast <to = 1> (d) \n y = Add (x, t) }",
        {"i": np.array(1, np.int64)},
    ),
    "eliminate_slice_after_shape": (
        "g (float[3,2] x) => (float[3,2] y) { s = Shape (x) \n d = Slice (s, b, e) \n"
        " t = Cast <to = 1> (d) \n y = Add (x, t) }",
        {"b": np.array([1], np.int64), "e": np.array([2], np.int64)},
    ),
    "eliminate_shape_op": (
        "g (float[3,2] x) => (float[3,2] y) { s = Shape (x) \n t = Cast <to = 1> (s) \n y = Add (x, t) }",
        {},
    ),
    "lower_qoperator": (
        "g (uint8[2,3] x) => (uint8[2,3] y) { a = com.microsoft.QLinearSigmoid (x, s, z, s2, z2) \n"
        " y = com.microsoft.QLinearLeakyRelu <alpha = 0.3> (a, s2, z2, s, z) }",
        {
            "s": np.array(0.05, np.float32),
            "z": np.array(128, np.uint8),
            "s2": np.array(1 / 256, np.float32),
            "z2": np.array(0, np.uint8),
        },
    ),
    "guard_openvino_defects": (
        'g (uint8[4] x, uint8[4] s) => (uint8[4] y) { y = BitShift <direction = "LEFT"> (x, s) }',
        {},
    ),
    "replace_einsum_with_matmul": (
        'g (float[2,3,4] a, float[2,4,5] b) => (float[2,3,5] y) { y = Einsum <equation = "bij,bjk->bik"> (a, b) }',
        {},
    ),
}
PASSES = {p.name: p for p in optimisation_passes()}


def build(name: str) -> onnx.ModelProto:
    text, weights = CASES[name]
    header = ML_HEADER if "ai.onnx.ml" in text else MICROSOFT_HEADER if "com.microsoft" in text else HEADER
    model = onnx.parser.parse_model(header + text)
    model.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in weights.items())
    onnx.checker.check_model(model)
    return onnx.shape_inference.infer_shapes(model)


def test_every_registered_pass_has_a_case():
    assert sorted(CASES) == sorted(PASSES)


def _outputs(model: onnx.ModelProto, feed: dict) -> list[np.ndarray]:
    if any(o.domain == "ai.onnx.ml" for o in model.opset_import):
        return ReferenceEvaluator(model).run(None, feed)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(),
        providers=["CPUExecutionProvider"],
        sess_options=_no_ort_optimisation(),
    )
    return session.run(None, feed)


def _no_ort_optimisation() -> onnxruntime.SessionOptions:
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    return options


def _fingerprint(model: onnx.ModelProto) -> tuple:
    graph = model.graph
    return ([n.op_type for n in graph.node], sorted(t.name for t in graph.initializer))


@pytest.mark.parametrize("name", sorted(CASES))
def test_pass_changes_its_model_and_keeps_the_outputs(name: str):
    model = build(name)
    before = _fingerprint(model)
    feed = sample_inputs(model, seed=7)
    expected = _outputs(model, feed)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    result = PASSES[name](copy)
    assert isinstance(result, PassResult) and result.modified
    assert _fingerprint(result.model) != before
    onnx.checker.check_model(result.model)
    for got, want in zip(_outputs(result.model, feed), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["eliminate_identity", "fold_constants", "fuse_bn_into_conv"])
def test_pass_leaves_a_model_it_does_not_apply_to_alone(name: str):
    model = build("eliminate_consecutive_idempotent_ops")
    assert not PASSES[name](model).modified


def test_switching_rule_disabled_beats_enabled_beats_level():
    registry = optimisation_passes()
    at = {level: {p.name for p in select_passes(registry, PassConfig(level=level))} for level in OptLevel}
    lowering = {name for name in PASSES if name.startswith(("lower_", "guard_"))}  # where ops run, not what
    assert len(lowering) == 8
    assert at[OptLevel.disable_all] == lowering
    assert at[OptLevel.basic] < at[OptLevel.extended] < at[OptLevel.all] == set(PASSES)
    assert "fuse_bn_into_conv" not in at[OptLevel.basic] and "fuse_bn_into_conv" in at[OptLevel.extended]
    chosen = select_passes(registry, PassConfig(OptLevel.disable_all, enabled=("fuse_bn_into_conv",)))
    assert [p.name for p in chosen if p.name not in lowering] == ["fuse_bn_into_conv"]
    chosen = select_passes(
        registry, PassConfig(OptLevel.all, enabled=("eliminate_deadend",), disabled=("eliminate_deadend",))
    )
    assert "eliminate_deadend" not in {p.name for p in chosen}
    order = [p.name for p in registry]
    assert [p.name for p in select_passes(registry, PassConfig(OptLevel.all))] == order


def test_unknown_pass_names_and_levels_list_the_valid_ones():
    with pytest.raises(UsageError, match="unknown pass 'fuse_everything'; valid passes: fold_shapes"):
        select_passes(optimisation_passes(), PassConfig(enabled=("fuse_everything",)))
    with pytest.raises(UsageError, match=r"valid levels: disable_all \(0\), basic \(1\)"):
        OptLevel.parse("max")
    assert OptLevel.parse("-O2") is OptLevel.extended and OptLevel.parse("all") is OptLevel.all


class _Breaks:
    name, opt_level, requires, description = "breaks_things", 1, (), "negates the output"

    def __call__(self, model: onnx.ModelProto) -> PassResult:
        output = model.graph.output[0].name
        for node in model.graph.node:
            node.output[:] = [f"{o}_raw" if o == output else o for o in node.output]
        model.graph.node.append(onnx.helper.make_node("Neg", [f"{output}_raw"], [output]))
        return PassResult(model, True)


class _Raises:
    name, opt_level, requires, description = "raises", 1, (), "fails"

    def __call__(self, model: onnx.ModelProto) -> PassResult:
        raise ValueError("boom")


def test_failures_name_the_pass_and_the_passes_before_it():
    model = build("eliminate_identity")
    with pytest.raises(CompileError, match=r"pass raises failed: boom \(passes run before it: eliminate_identity\)"):
        run_passes(model, [PASSES["eliminate_identity"], _Raises()])
    with pytest.raises(VerificationError, match=r"pass breaks_things failed: verification failed: output 'y'"):
        run_passes(build("eliminate_identity"), [PASSES["eliminate_identity"], _Breaks()], after_each=PassVerifier())
