"""The partitioner: maximal groups, no cycles between them, the same answer every time."""

from __future__ import annotations

import random

import pytest

from ovaot.compiler.partition import NodeGroup, partition


def _users(edges: list[tuple[int, int]], count: int) -> list[list[int]]:
    users: list[list[int]] = [[] for _ in range(count)]
    for a, b in sorted(set(edges)):
        users[a].append(b)
    return users


def _has_cycle(groups: list[NodeGroup], users: list[list[int]]) -> bool:
    group_of = {n: g for g, group in enumerate(groups) for n in group.node_ids}
    # Execution order must respect every edge: a group may only read from groups before it.
    return any(group_of[u] < group_of[n] for n in group_of for u in users[n])


def test_one_label_is_one_partition():
    users = _users([(0, 1), (1, 2)], 3)
    assert partition(users, ["openvino"] * 3) == [NodeGroup("openvino", (0, 1, 2))]


def test_chain_with_a_fallback_node_in_the_middle_gives_three_partitions():
    # Conv -> Relu -> Sign -> Mul -> Sigmoid, with Conv also feeding Mul.
    users = _users([(0, 1), (1, 2), (2, 3), (0, 3), (3, 4)], 5)
    labels = ["openvino", "openvino", "fallback", "openvino", "openvino"]
    assert partition(users, labels) == [
        NodeGroup("openvino", (0, 1)),
        NodeGroup("fallback", (2,)),
        NodeGroup("openvino", (3, 4)),
    ]


def test_a_merge_that_would_create_a_cycle_is_refused():
    # a -> f -> c and a -> c: merging a with c around fallback f would make a cycle.
    users = _users([(0, 1), (1, 2), (0, 2)], 3)
    groups = partition(users, ["openvino", "fallback", "openvino"])
    assert len(groups) == 3
    assert not _has_cycle(groups, users)


def test_independent_branches_merge_into_one_partition():
    # x feeds two openvino branches and one fallback branch; the two openvino branches join.
    users = _users([(0, 1), (0, 2), (0, 3), (1, 4), (2, 4)], 5)
    labels = ["openvino", "openvino", "openvino", "fallback", "openvino"]
    groups = partition(users, labels)
    assert NodeGroup("openvino", (0, 1, 2, 4)) in groups
    assert not _has_cycle(groups, users)


@pytest.mark.parametrize("seed", range(20))
def test_random_graphs_partition_without_cycles_and_deterministically(seed: int):
    rng = random.Random(seed)
    count = rng.randint(5, 60)
    edges = [(a, b) for b in range(count) for a in rng.sample(range(b), min(b, rng.randint(0, 3)))]
    users = _users(edges, count)
    labels = [rng.choice(["openvino", "openvino", "fallback"]) for _ in range(count)]
    first = partition(users, labels)
    for _ in range(10):
        assert partition(users, labels) == first
    assert sorted(n for g in first for n in g.node_ids) == list(range(count))
    assert all(labels[n] == g.label for g in first for n in g.node_ids)
    assert not _has_cycle(first, users)
    # Maximal: no two groups of one label could be merged without a cycle.
    for i, a in enumerate(first):
        for b in first[i + 1 :]:
            if a.label == b.label:
                merged = [g for g in first if g not in (a, b)] + [NodeGroup(a.label, a.node_ids + b.node_ids)]
                assert _cycle_between_groups(merged, users), (a, b)


def _cycle_between_groups(groups: list[NodeGroup], users: list[list[int]]) -> bool:
    group_of = {n: g for g, group in enumerate(groups) for n in group.node_ids}
    edges = {(group_of[n], group_of[u]) for n in group_of for u in users[n] if group_of[n] != group_of[u]}
    state: dict[int, int] = {}

    def visit(g: int) -> bool:
        state[g] = 1
        for a, b in edges:
            if a == g and (state.get(b) == 1 or (b not in state and visit(b))):
                return True
        state[g] = 2
        return False

    return any(g not in state and visit(g) for g in range(len(groups)))
