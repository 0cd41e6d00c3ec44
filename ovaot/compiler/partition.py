"""Group nodes into maximal partitions of one engine each, never creating a cycle between partitions.

The algorithm follows torch.fx's CapabilityBasedPartitioner: walk the nodes in reverse topological
order, open a partition for each node, and merge it into its users' partitions of the same label
unless a walk from the union's external users comes back into the union (that would be a cycle).
Unlike a walk over nodes, the walk here moves between whole partitions, so three partitions that
are each convex can never form a cycle among themselves.
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
        # Walk the group graph from the union's users outside it; reaching the union again is a cycle.
        # Groups, not nodes: reaching any node of a group means the whole group runs after the union.
        stack = [u for n in union for u in users[n] if u not in union]
        seen_groups: set[int] = set()
        while stack:
            node = stack.pop()
            if node in union:
                return True
            group = group_of[node]
            if group in seen_groups:
                continue
            seen_groups.add(group)
            stack.extend(u for n in members[group] for u in users[n] if group_of[u] != group)
        return False

    def merge(mine: int, target: int) -> bool:
        if mine == target:
            return False
        union = members[mine] | members[target]
        if creates_cycle(union):
            return False
        for moved in members[mine]:
            group_of[moved] = target
        members[target] = union
        del members[mine]
        return True

    # Vertical: a node joins the partitions of its users that have its label.
    for node in reversed(range(count)):
        for user in users[node]:
            if labels[user] == labels[node]:
                merge(group_of[node], group_of[user])
    # Horizontal: partitions of one label that are not connected join when no cycle follows.
    merged = True
    while merged:
        merged = False
        keys = sorted(members, key=lambda k: min(members[k]))
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if labels[a] == labels[b] and merge(b, a):
                    merged = True
                    break
            if merged:
                break

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
