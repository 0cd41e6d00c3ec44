"""Group nodes into maximal partitions of one engine each, never creating a cycle between partitions.

The algorithm follows torch.fx's CapabilityBasedPartitioner: walk the nodes in reverse topological
order, open a partition for each node, and merge it into its users' partitions of the same label
unless a walk from the union's external users comes back into the union (that would be a cycle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeGroup:
    """Node indices (in topological order) that run together on the engine named by `label`."""

    label: str
    node_ids: tuple[int, ...]


def partition(users: Sequence[Sequence[int]], labels: Sequence[str]) -> list[NodeGroup]:
    """Partition a topologically sorted graph given each node's users and engine label.

    Deterministic: the same graph and labels always give the same groups in the same order.
    """
    count = len(labels)
    if len(set(labels)) <= 1:
        return [NodeGroup(labels[0], tuple(range(count)))] if count else []
    group_of = list(range(count))
    members: dict[int, set[int]] = {i: {i} for i in range(count)}

    def creates_cycle(union: set[int]) -> bool:
        limit = max(union)  # a path back into the union can only pass through nodes before its last one
        stack = [u for n in union for u in users[n] if u not in union]
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if node in union:
                return True
            if node in seen or node > limit:
                continue
            seen.add(node)
            stack.extend(users[node])
        return False

    for node in reversed(range(count)):
        for user in users[node]:
            target, mine = group_of[user], group_of[node]
            if target == mine or labels[user] != labels[node]:
                continue
            union = members[mine] | members[target]
            if creates_cycle(union):
                continue
            for moved in members[mine]:
                group_of[moved] = target
            members[target] = union
            del members[mine]

    groups = [NodeGroup(labels[min(ids)], tuple(sorted(ids))) for ids in members.values()]
    return _execution_order(groups, users, group_of)


def _execution_order(groups: list[NodeGroup], users: Sequence[Sequence[int]], group_of: list[int]) -> list[NodeGroup]:
    """Topologically order the groups; ties go to the group whose first node comes first."""
    key = {group_of[g.node_ids[0]]: g for g in groups}
    deps: dict[int, set[int]] = {k: set() for k in key}
    for k, group in key.items():
        for n in group.node_ids:
            for u in users[n]:
                if group_of[u] != k:
                    deps[group_of[u]].add(k)
    ordered: list[NodeGroup] = []
    done: set[int] = set()
    while len(ordered) < len(key):
        ready = [k for k in key if k not in done and deps[k] <= done]
        assert ready, "partition graph has a cycle"
        first = min(ready, key=lambda k: key[k].node_ids[0])
        done.add(first)
        ordered.append(key[first])
    return ordered
