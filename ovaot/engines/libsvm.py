"""libsvm's one-vs-one layout, as ai.onnx.ml SVMClassifier stores it: shared by the device lowering
(ovaot/passes/ml/svm.py) and the fallback kernel (ovaot/engines/reference.py). numpy only."""

from __future__ import annotations

import numpy as np


def pair_weights(coefficients: np.ndarray, per_class: list[int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(V, P) weights, in `coefficients`' dtype: column p combines the kernel values into the score of class pair
    p = (i, j), i < j. Coefficients are (classes - 1) rows of V; class i's vectors against class j take row j - 1.
    Raises ValueError for fewer coefficients than that."""
    classes, count = len(per_class), sum(per_class)
    if coefficients.size < (classes - 1) * count:
        raise ValueError("fewer coefficients than (classes - 1) x vectors")
    rows = coefficients.ravel()[: (classes - 1) * count].reshape(classes - 1, count)
    start = np.concatenate([[0], np.cumsum(per_class)]).astype(int)
    pairs = [(i, j) for i in range(classes - 1) for j in range(i + 1, classes)]
    weights = np.zeros((count, len(pairs)), coefficients.dtype)
    for p, (i, j) in enumerate(pairs):
        weights[start[i] : start[i + 1], p] = rows[j - 1, start[i] : start[i + 1]]
        weights[start[j] : start[j + 1], p] = rows[i, start[j] : start[j + 1]]
    return weights, pairs


def vote_matrices(pairs: list[tuple[int, int]], classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(P, classes) and (1, classes) float32 so that votes = wins @ first + second, wins being 1 where a pair's
    score is above 0 (a vote for i) and 0 otherwise (a vote for j)."""
    change = np.zeros((len(pairs), classes), np.float32)
    losers = np.zeros((1, classes), np.float32)
    for p, (i, j) in enumerate(pairs):
        change[p, i], change[p, j] = 1, -1
        losers[0, j] += 1
    return change, losers
