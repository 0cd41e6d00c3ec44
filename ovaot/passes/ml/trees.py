"""Tree ensembles as standard ONNX by the strategies of Hummingbird (Nakandala et al., OSDI 2020): tree
traversal (gathers, one step per tree level), perfect-tree traversal (the trees padded to full depth, so a step
needs two gathers fewer), or GEMM (three batched matrix products).

Chosen by measurement (artifacts/ml.md, python -m benchmarks.ml). On OpenVINO's CPU plugin every gather costs
~7 us per run with a dynamic batch (3.5 us with a static one; element-wise ops fuse and cost nothing), so the
step count decides: on deep but small ensembles (LightGBM at depth 7-10, a depth-8 random forest: path matrices
of at most 6,000 entries) GEMM beat the better traversal on all 8 rows, by 8-41%, and it was 1.2-10x slower
elsewhere (shallow boosting, deep random forests whose path matrix grows with 4^depth); perfect-tree traversal
was 1-23% faster than plain traversal on shallow boosting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import NodeProto

from ovaot.passes.emitter import INT64, Emitter, Unsupported, attributes, optional_output
from ovaot.passes.ml.forest import BRANCH_MODES, Forest, read_forest, read_tree_ensemble
from ovaot.passes.ml.transforms import post_transform

GEMM_MIN_DEPTH = 6  # GEMM for ensembles at least this deep whose path matrix is small (see above)
GEMM_MAX_PATH_ENTRIES = 1 << 16
PERFECT_MAX_SLOTS = 1 << 16  # trees x 2^depth at the last level, past which plain traversal is taken
FORCED: str | None = None  # "gemm", "perfect" or "traversal" for every ensemble (tests and benchmarks compare)

_COMPARE = {
    "BRANCH_LEQ": ("LessOrEqual", False),
    "BRANCH_LT": ("Less", False),
    "BRANCH_GTE": ("GreaterOrEqual", False),
    "BRANCH_GT": ("Greater", False),
    "BRANCH_EQ": ("Equal", False),
    "BRANCH_NEQ": ("Equal", True),
}


def _decide(out: Emitter, value: str, threshold: str, modes: str, missing: str | None, used: set[int]) -> str:
    """The branch condition of each (row, node) pair: `modes` and `missing` give each node's mode and NaN rule."""
    conditions = []
    for mode in sorted(used):
        op_type, negate = _COMPARE[BRANCH_MODES[mode]]
        condition = out.op(op_type, value, threshold)
        if negate:
            condition = out.op("Not", condition)
        if op_type.startswith("Greater"):  # OpenVINO 2026.4's CPU plugin says NaN > t and NaN >= t are true
            condition = out.op("And", condition, out.op("Not", out.op("IsNaN", value)))
        if len(used) > 1:
            condition = out.op("And", condition, out.op("Equal", modes, out.const(mode, "mode", np.int64)))
        conditions.append(condition)
    condition = conditions[0]
    for other in conditions[1:]:
        condition = out.op("Or", condition, other)
    if missing is not None:
        condition = out.op("Or", condition, out.op("And", out.op("IsNaN", value), missing))
    return condition


def _branch_modes(forest: Forest) -> set[int]:
    return {int(m) for m in forest.mode if m >= 0} or {0}


def traverse(out: Emitter, x: str, forest: Forest) -> str:
    """(N, T) int64: the leaf each row reaches in each tree, one gather step per level."""
    trees = len(forest.roots)
    used = _branch_modes(forest)
    feature, threshold = out.const(forest.feature, "feature"), out.const(forest.threshold, "threshold")
    true_child, false_child = out.const(forest.true_child, "true"), out.const(forest.false_child, "false")
    modes = out.const(forest.mode, "modes") if len(used) > 1 else ""
    missing = out.const(forest.missing_goes_true, "missing") if forest.missing_goes_true.any() else None
    shape = out.op("Concat", out.rows(x), out.const([trees], "trees", np.int64), axis=0)
    node = out.op("Expand", out.const(forest.roots.reshape(1, trees), "roots"), shape)
    for _ in range(forest.depth):
        condition = _condition_at(out, x, node, feature, threshold, modes, missing, used)
        node = out.op("Where", condition, out.op("Gather", true_child, node), out.op("Gather", false_child, node))
    return node


def _condition_at(
    out: Emitter, x: str, node: str, feature: str, threshold: str, modes: str, missing: str | None, used: set[int]
) -> str:
    """The branch condition of each (row, tree) at `node` (N, T), read from per-node tables."""
    value = out.op("GatherElements", x, out.op("Gather", feature, node), axis=1)
    node_modes = out.op("Gather", modes, node) if modes else ""
    node_missing = out.op("Gather", missing, node) if missing else None
    return _decide(out, value, out.op("Gather", threshold, node), node_modes, node_missing, used)


def perfect_slots(forest: Forest) -> list[np.ndarray]:
    """The trees padded to perfect binary trees of the forest's depth, level by level: at level l, slot
    t * 2^l + i holds the global node at position i of tree t (true child at 2i, false child at 2i + 1). A leaf
    above the last level fills both of its child slots with itself, so every path ends at a leaf at level depth."""
    slots = [forest.roots]
    for _ in range(forest.depth):
        above = slots[-1]
        slots.append(np.stack([forest.true_child[above], forest.false_child[above]], axis=1).reshape(-1))
    return slots


def perfect_size(forest: Forest) -> int:
    return len(forest.roots) << forest.depth


def traverse_perfect(out: Emitter, x: str, forest: Forest) -> tuple[str, np.ndarray]:
    """Hummingbird's perfect tree traversal: (N, T) int64 slots of the last level, and the leaf in each slot.

    With the trees padded to perfect ones, a row's next slot is 2s + 1 - condition: one gather of the feature
    and one of the threshold per level, where plain traversal also gathers both children and selects.
    """
    slots = perfect_slots(forest)
    used = _branch_modes(forest)
    branch = forest.mode >= 0
    node = out.const(np.arange(len(forest.roots), dtype=np.int64).reshape(1, -1), "roots")
    for level, at in enumerate(slots[:-1]):
        feature = np.where(branch[at], forest.feature[at], 0)  # a padding leaf reads feature 0 and goes nowhere
        threshold = out.const(forest.threshold[at], "threshold")
        modes = out.const(forest.mode[at], "modes") if len(used) > 1 else ""
        missing = forest.missing_goes_true[at]
        missing_name = out.const(missing, "missing") if missing.any() else None
        if level == 0:  # one slot per tree: the same feature and threshold for every row
            value = out.op("Gather", x, out.const(feature, "feature"), axis=1)
            condition = _decide(out, value, threshold, modes, missing_name, used)
        else:
            feature_name = out.const(feature, "feature")
            condition = _condition_at(out, x, node, feature_name, threshold, modes, missing_name, used)
        doubled = out.op("Add", out.op("Add", node, node), out.const(np.int64(1), "one"))
        node = out.op("Sub", doubled, out.cast(condition, INT64))
    return node, slots[-1]


def _paths(forest: Forest) -> tuple[list[list[int]], list[list[int]], list[dict[int, int]]]:
    """Per tree: its branch nodes, its leaves, and for each leaf the direction (+1 true, -1 false) of each
    branch node on the way to it."""
    branches, leaves, ways = [], [], []
    for root in forest.roots:
        tree_branches, tree_leaves, tree_ways = [], [], []
        stack: list[tuple[int, dict[int, int]]] = [(int(root), {})]
        while stack:
            g, way = stack.pop()
            if forest.mode[g] < 0:
                tree_leaves.append(g)
                tree_ways.append(way)
            else:
                tree_branches.append(g)
                stack.append((int(forest.false_child[g]), {**way, g: -1}))
                stack.append((int(forest.true_child[g]), {**way, g: 1}))
        branches.append(tree_branches)
        leaves.append(tree_leaves)
        ways.append(tree_ways)
    return branches, leaves, ways


def gemm_size(forest: Forest) -> int:
    """Entries of the GEMM strategy's path matrix: trees x most branch nodes x most leaves."""
    branches, leaves, _ = _paths(forest)
    return len(forest.roots) * max(1, *map(len, branches)) * max(map(len, leaves))


def gemm(out: Emitter, x: str, forest: Forest, leaf_values: np.ndarray) -> str:
    """(N, K): the ensemble's summed leaf values, as Hummingbird's GEMM strategy computes them."""
    branches, leaves, ways = _paths(forest)
    trees, width, height = len(forest.roots), max(1, *map(len, branches)), max(map(len, leaves))
    columns = leaf_values.shape[1]
    nodes = np.zeros((trees, width), np.int64)  # padding columns read node 0 and count for nothing
    path = np.zeros((trees, width, height), np.float32)
    lefts = np.full((trees, 1, height), -1, np.float32)  # padding leaves are never selected
    values = np.zeros((trees, height, columns), np.float32)
    for t in range(trees):
        position = {g: i for i, g in enumerate(branches[t])}
        nodes[t, : len(branches[t])] = branches[t]
        for j, (leaf, way) in enumerate(zip(leaves[t], ways[t], strict=True)):
            for g, direction in way.items():
                path[t, position[g], j] = direction
            lefts[t, 0, j] = sum(1 for d in way.values() if d > 0)
            values[t, j] = leaf_values[leaf]
    flat = nodes.reshape(-1)
    used = _branch_modes(forest)
    value = out.op("Gather", x, out.const(forest.feature[flat], "feature"), axis=1)
    modes = out.const(forest.mode[flat].reshape(1, -1), "modes") if len(used) > 1 else ""
    missing = forest.missing_goes_true[flat]
    condition = _decide(
        out,
        value,
        out.const(forest.threshold[flat], "threshold"),
        modes,
        out.const(missing.reshape(1, -1), "missing") if missing.any() else None,
        used,
    )
    grouped = out.op("Reshape", out.cast(condition), out.const([0, trees, width], "shape", np.int64))
    taken = out.op("MatMul", out.op("Transpose", grouped, perm=[1, 0, 2]), out.const(path, "path"))
    reached = out.cast(out.op("Equal", taken, out.const(lefts, "lefts")))
    return out.reduce("ReduceSum", out.op("MatMul", reached, out.const(values, "values")), axis=0)


def strategy(forest: Forest, aggregate: str) -> str:
    """ "gemm", "perfect" or "traversal" for this ensemble (GEMM takes only SUM and AVERAGE)."""
    gemm_fits = aggregate in ("SUM", "AVERAGE") and forest.depth > 0
    perfect_fits = forest.depth > 0 and perfect_size(forest) <= PERFECT_MAX_SLOTS
    if FORCED == "gemm" and gemm_fits:
        return "gemm"
    if FORCED in ("gemm", "perfect", "traversal"):
        return "perfect" if FORCED == "perfect" and perfect_fits else "traversal"
    if gemm_fits and forest.depth >= GEMM_MIN_DEPTH and gemm_size(forest) <= GEMM_MAX_PATH_ENTRIES:
        return "gemm"
    return "perfect" if perfect_fits else "traversal"


def aggregate_scores(out: Emitter, x: str, forest: Forest, columns: int, aggregate: str) -> str:
    """(N, columns) float: the ensemble's aggregated leaf weights, before base values."""
    x = out.cast(x)
    values = forest.leaf_values(columns, aggregate)
    chosen = strategy(forest, aggregate)
    if chosen == "gemm":
        total = gemm(out, x, forest, values)
    else:
        if chosen == "perfect":
            reached, leaves = traverse_perfect(out, x, forest)
            values = values[leaves]
        else:
            reached = traverse(out, x, forest)
        per_tree = out.op("Gather", out.const(values, "leaf_values"), reached)
        op_type = {"SUM": "ReduceSum", "AVERAGE": "ReduceSum", "MIN": "ReduceMin", "MAX": "ReduceMax"}[aggregate]
        total = out.reduce(op_type, per_tree, axis=1)
        if aggregate in ("MIN", "MAX"):  # a column no tree scored is 0; OpenVINO may turn the inf into float max
            unscored = out.op("GreaterOrEqual", out.op("Abs", total), out.const(np.float32(1e38), "huge"))
            total = out.op("Where", unscored, out.const(np.float32(0), "zero"), total)
    if aggregate == "AVERAGE":
        total = out.op("Div", total, out.const(np.float32(len(forest.roots)), "trees"))
    return total


def _base(out: Emitter, scores: str, attrs: dict[str, Any]) -> str:
    if "base_values_as_tensor" in attrs:
        raise Unsupported("base_values_as_tensor (double) is not lowered")
    base = attrs.get("base_values")
    return out.op("Add", scores, out.const(np.array(base, np.float32), "base")) if base else scores


def lower_regressor(node: NodeProto, out: Emitter) -> None:
    attrs = attributes(node)
    aggregate = attrs.get("aggregate_function", "SUM")
    forest = read_forest(attrs, "target")
    scores = _base(out, aggregate_scores(out, node.input[0], forest, int(attrs.get("n_targets", 1)), aggregate), attrs)
    post_transform(out, scores, attrs.get("post_transform", "NONE"), result=node.output[0])


def lower_tree_ensemble(node: NodeProto, out: Emitter) -> None:
    """TreeEnsemble (ai.onnx.ml opset 5): one output of n_targets columns, aggregate and transform as enums."""
    attrs = attributes(node)
    aggregate = ("AVERAGE", "SUM", "MIN", "MAX")[int(attrs.get("aggregate_function", 1))]
    transform = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")[int(attrs.get("post_transform", 0))]
    forest = read_tree_ensemble(attrs)
    scores = aggregate_scores(out, node.input[0], forest, int(attrs["n_targets"]), aggregate)
    post_transform(out, scores, transform, result=node.output[0])


def lower_classifier(node: NodeProto, out: Emitter) -> None:
    """Scores and labels as onnxruntime gives them. A binary ensemble that scores class 0 alone gets the other
    column from its score s: [-s, s] (labelled by s > 0), or [1 - s, s] (labelled by s > 0.5) where every
    weight is positive and there is no transform; onnxruntime applies LOGISTIC to both columns and leaves
    SOFTMAX out."""
    attrs = attributes(node)
    labels = attrs.get("classlabels_int64s") or attrs.get("classlabels_strings")
    if not labels or len(labels) < 2:
        raise Unsupported("fewer than two class labels")
    transform = attrs.get("post_transform", "NONE")
    forest = read_forest(attrs, "class")
    scored = {k for _, k, _ in forest.leaf_weights}
    scores = _base(out, aggregate_scores(out, node.input[0], forest, len(labels), "SUM"), attrs)
    if len(scored) == 1:
        if scored != {0} or len(labels) != 2:
            raise Unsupported("a one-column ensemble that does not score class 0 of two")
        positive_weights = all(w >= 0 for _, _, w in forest.leaf_weights)
        if positive_weights and transform != "NONE":
            raise Unsupported(f"a binary ensemble of positive weights with {transform}")
        positive = out.column(scores, 0)
        if positive_weights:
            negative = out.op("Sub", out.const(np.float32(1), "one"), positive)
        else:
            negative = out.op("Neg", positive)
        scores = out.op("Concat", negative, positive, axis=1)
        transform = "LOGISTIC" if transform == "LOGISTIC" else "NONE"
    probabilities = post_transform(out, scores, transform, result=optional_output(node, 1))
    choose_label(out, probabilities, labels, node.output[0])


def choose_label(out: Emitter, scores: str, labels: list, result: str) -> None:
    """The label of each row's highest score (the first on ties); string labels are gathered by the fallback."""
    if not result:
        return
    best = out.op("ArgMax", scores, axis=1, keepdims=0)
    table = np.array(labels, dtype=object if isinstance(labels[0], str) else np.int64)
    out.op("Gather", out.const(table, "labels"), best, out=result)
