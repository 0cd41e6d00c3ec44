"""A tree ensemble (ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor) read into flat arrays.

Nodes of every tree are numbered 0..G-1 in one index. A leaf's children are itself, so walking any number of
steps past a leaf stays on it; `leaf_values[g, k]` is what leaf g contributes to output column k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ovaot.passes.emitter import Unsupported

BRANCH_MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ")


@dataclass(frozen=True)
class Forest:
    roots: np.ndarray  # (T,) global node index of each tree's root
    feature: np.ndarray  # (G,) int64
    threshold: np.ndarray  # (G,) float32
    true_child: np.ndarray  # (G,) int64; a leaf's own index
    false_child: np.ndarray  # (G,) int64
    mode: np.ndarray  # (G,) index into BRANCH_MODES; -1 for a leaf
    missing_goes_true: np.ndarray  # (G,) bool: a NaN feature takes the true branch
    leaf_weights: list[tuple[int, int, float]]  # (global node, output column, weight), as listed
    depth: int  # the most branch nodes on any root-to-leaf path

    @property
    def size(self) -> int:
        return len(self.feature)

    def leaf_values(self, columns: int, aggregate: str = "SUM") -> np.ndarray:
        """(G, columns): summed weights per leaf; for MIN / MAX the extreme weight, +-inf where a leaf has none."""
        if aggregate in ("MIN", "MAX"):
            empty = np.inf if aggregate == "MIN" else -np.inf
            values = np.full((self.size, columns), empty, np.float32)
            pick = np.minimum if aggregate == "MIN" else np.maximum
            for g, k, w in self.leaf_weights:
                values[g, k] = pick(values[g, k], w)
            return values
        values = np.zeros((self.size, columns), np.float64)
        for g, k, w in self.leaf_weights:
            values[g, k] += w
        return values.astype(np.float32)


def _tensor_or_list(attrs: dict[str, Any], name: str) -> Any:
    if f"{name}_as_tensor" in attrs:
        raise Unsupported(f"{name}_as_tensor (double thresholds or weights) is not lowered")
    return attrs.get(name)


def read_forest(attrs: dict[str, Any], prefix: str) -> Forest:
    """The ensemble whose leaf weights are the `prefix`_* attributes ("class" or "target")."""
    tree_ids = list(attrs["nodes_treeids"])
    node_ids = list(attrs["nodes_nodeids"])
    index = {(t, n): g for g, (t, n) in enumerate(zip(tree_ids, node_ids, strict=True))}
    if len(index) != len(tree_ids):
        raise Unsupported("a (tree, node) id appears twice")
    modes = list(attrs["nodes_modes"])
    unknown = set(modes) - {"LEAF", *BRANCH_MODES}
    if unknown:
        raise Unsupported(f"node modes {sorted(unknown)} are not lowered")
    size = len(tree_ids)
    leaf = np.array([m == "LEAF" for m in modes])
    own = np.arange(size, dtype=np.int64)

    def child(ids_name: str) -> np.ndarray:
        ids = attrs[ids_name]
        try:
            return np.array([g if leaf[g] else index[tree_ids[g], c] for g, c in enumerate(ids)], np.int64)
        except KeyError:
            raise Unsupported(f"{ids_name} names a node that does not exist") from None

    true_child, false_child = child("nodes_truenodeids"), child("nodes_falsenodeids")
    is_child = np.zeros(size, bool)
    is_child[true_child[~leaf]] = True
    is_child[false_child[~leaf]] = True
    roots = np.flatnonzero(~is_child)
    if len(set(np.array(tree_ids)[roots])) != len(roots) or len(roots) != len(set(tree_ids)):
        raise Unsupported("a tree does not have exactly one root")
    depth = _depth(roots, true_child, false_child, leaf)
    missing = attrs.get("nodes_missing_value_tracks_true") or [0] * size
    weights = _tensor_or_list(attrs, f"{prefix}_weights")
    leaf_weights = []
    for t, n, k, w in zip(
        attrs[f"{prefix}_treeids"], attrs[f"{prefix}_nodeids"], attrs[f"{prefix}_ids"], weights, strict=True
    ):
        if (t, n) not in index:
            raise Unsupported(f"a {prefix} weight names a node that does not exist")
        leaf_weights.append((index[t, n], int(k), float(w)))
    return Forest(
        roots=roots.astype(np.int64),
        feature=np.array(attrs["nodes_featureids"], np.int64),
        threshold=np.array(_tensor_or_list(attrs, "nodes_values"), np.float32),
        true_child=np.where(leaf, own, true_child),
        false_child=np.where(leaf, own, false_child),
        mode=np.array([-1 if m == "LEAF" else BRANCH_MODES.index(m) for m in modes], np.int64),
        missing_goes_true=np.array(missing, bool) & ~leaf,
        leaf_weights=leaf_weights,
        depth=depth,
    )


def _depth(roots: np.ndarray, true_child: np.ndarray, false_child: np.ndarray, leaf: np.ndarray) -> int:
    deepest, level, frontier = 0, 0, [int(r) for r in roots]
    seen = 0
    while frontier:
        branches = [g for g in frontier if not leaf[g]]
        seen += len(frontier)
        if seen > len(leaf):
            raise Unsupported("the trees have a cycle")
        if branches:
            level += 1
            deepest = level
        frontier = [int(c) for g in branches for c in (true_child[g], false_child[g])]
    return deepest


def read_tree_ensemble(attrs: dict[str, Any]) -> Forest:
    """ai.onnx.ml TreeEnsemble (opset 5): branch nodes and leaves in separate arrays; leaves are numbered after
    the branch nodes here. Set membership (mode 6) is not lowered."""
    splits = np.asarray(attrs["nodes_splits"])
    if splits.dtype != np.float32 or np.asarray(attrs["leaf_weights"]).dtype != np.float32:
        raise Unsupported("double splits or weights are not lowered")
    modes = np.asarray(attrs["nodes_modes"]).astype(np.int64)
    if (modes > 5).any():
        raise Unsupported("set membership (BRANCH_MEMBER) is not lowered")
    branches, leaves = len(splits), len(attrs["leaf_targetids"])

    def child(ids: str, is_leaf: str) -> np.ndarray:
        index = np.asarray(attrs[ids], np.int64)
        leaf = np.asarray(attrs.get(is_leaf) or [0] * branches, bool)
        target = np.where(leaf, branches + index, index)
        if (target < 0).any() or (target >= branches + leaves).any():
            raise Unsupported(f"{ids} names a node that does not exist")
        return target

    own = np.arange(branches, branches + leaves, dtype=np.int64)
    true_child = np.concatenate([child("nodes_truenodeids", "nodes_trueleafs"), own])
    false_child = np.concatenate([child("nodes_falsenodeids", "nodes_falseleafs"), own])
    is_leaf = np.concatenate([np.zeros(branches, bool), np.ones(leaves, bool)])
    roots = np.asarray(attrs["tree_roots"], np.int64)
    missing = np.asarray(attrs.get("nodes_missing_value_tracks_true") or [0] * branches, bool)
    weights = np.asarray(attrs["leaf_weights"], np.float32)
    return Forest(
        roots=roots,
        feature=np.concatenate([np.asarray(attrs["nodes_featureids"], np.int64), np.zeros(leaves, np.int64)]),
        threshold=np.concatenate([splits, np.zeros(leaves, np.float32)]),
        true_child=true_child,
        false_child=false_child,
        mode=np.concatenate([modes, np.full(leaves, -1, np.int64)]),
        missing_goes_true=np.concatenate([missing, np.zeros(leaves, bool)]),
        leaf_weights=[
            (branches + j, int(k), float(w))
            for j, (k, w) in enumerate(zip(attrs["leaf_targetids"], weights, strict=True))
        ],
        depth=_depth(roots, true_child, false_child, is_leaf),
    )
