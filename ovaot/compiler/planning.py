"""Planning: which engine runs each node and why, and the partitions that follow. Nothing is compiled here.

A plan value is built from the devices' capabilities (OpenVINO's query for a device this host has, the
spec's op table for one it lacks), the user's overrides, and the nodes the build step refused so far.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import openvino as ov
from onnx import ModelProto

from ovaot.compiler.capability import Support, apply_overrides, convert_partially, device_capability, device_present
from ovaot.compiler.graph import GraphIndex
from ovaot.compiler.partition import NodeGroup, partition
from ovaot.format.manifest import PartitionKind, PlanMode, PlanName, SupportSource
from ovaot.passes.weights import Stash, saved_with_external_weights, set_weights_aside

FALLBACK = PartitionKind.FALLBACK.value  # the label of nodes no device takes


@dataclass(frozen=True)
class PlanSpec:
    """A plan to make: which one, how its devices combine, and the devices."""

    name: PlanName
    mode: PlanMode
    devices: list[str]


@dataclass(frozen=True)
class Draft:
    """A plan before it is built: each node's engine label (a device or FALLBACK) and why, and the groups of
    nodes that run together, in execution order."""

    spec: PlanSpec
    decided: list[tuple[str, Support]]  # by node index
    groups: list[NodeGroup]


def convert_whole(
    model: ModelProto, devices: list[str], core: ov.Core, scratch: Path, aside: Stash | None = None
) -> tuple[ov.Model, bool] | None:
    """The model converted once for every present device's capability query, with whether the conversion
    is partial; None where no device is queried or OpenVINO cannot convert it whole (the query then asks
    node by node).

    The model goes to OpenVINO as files in `scratch`, its weights as external data: OpenVINO maps them
    instead of copying them out of serialised bytes (resnet50: 0.05 s against 0.5 s, and 340 MB less at peak).
    `aside`: the model's large weights where the caller has set them aside (they stay aside).
    """
    if not any(device_present(core, d) for d in devices):
        return None
    with saved_with_external_weights(model, scratch, aside) as path:
        try:
            return ov.Core().read_model(str(path)), False
        except RuntimeError:
            pass  # not whole: partly, from bytes (framework nodes read from a file crash query_model)
    if aside is not None:
        aside.restore(model)
    try:
        return convert_partially(model.SerializeToString()), True
    except RuntimeError:
        return None
    finally:
        if aside is not None:
            set_weights_aside(model, into=aside)


def query_support(
    model: ModelProto,
    index: GraphIndex,
    spec: PlanSpec,
    core: ov.Core,
    configs: Mapping[str, dict[str, str]],
    overrides: tuple[Mapping[str, Mapping[str, bool]], tuple[str, ...]],
    converted: tuple[ov.Model, bool] | None,
) -> dict[str, list[Support]]:
    """Per device, each node's Support: the capability, then the user's capabilities and forced fallbacks."""
    capabilities, force_fallback = overrides
    supports = {}
    for device in spec.devices:
        capability = device_capability(core, device, configs[device])
        supports[device] = apply_overrides(
            capability.support(model, index, converted), index, device, capabilities, force_fallback
        )
    return supports


def draft(
    spec: PlanSpec, index: GraphIndex, supports: Mapping[str, list[Support]], refused: Mapping[int, Support]
) -> Draft:
    """Label every node and partition the graph; `refused` nodes (by the build step) go to the fallback, and so
    does a lone data-movement op between two fallback partitions."""
    decided = [
        (FALLBACK, refused[i]) if i in refused else choice
        for i, choice in enumerate(_label_nodes(spec, supports, len(index.nodes)))
    ]
    labels = [label for label, _ in decided]
    groups = partition(index.users, labels)
    lone = _lone_moves_between_fallbacks(index, groups, labels)
    for i in lone:
        decided[i] = (FALLBACK, Support(False, LONE_MOVE_REASON, SupportSource.CROSSING))
        labels[i] = FALLBACK
    return Draft(spec, decided, partition(index.users, labels) if lone else groups)


# Ops that only move or reinterpret data: alone between two fallback partitions, one costs an OpenVINO call
# and two crossings more than it saves (benchmarks/crossings.py measures it: artifacts/crossings.md).
DATA_MOVEMENT = frozenset(
    {"Cast", "Concat", "Flatten", "Gather", "Identity", "Reshape", "Shape", "Size", "Slice", "Squeeze",
     "Transpose", "Unsqueeze"}
)  # fmt: skip
LONE_MOVE_REASON = (
    "a lone data-movement op between two fallback partitions runs in the fallback: on OpenVINO it would cost a "
    "call and two crossings"
)


def _lone_moves_between_fallbacks(index: GraphIndex, groups: list[NodeGroup], labels: list[str]) -> list[int]:
    """Nodes that form a device partition alone, move data only, read from the fallback and feed only it."""
    lone = []
    for group in groups:
        if group.label == FALLBACK or len(group.node_ids) != 1:
            continue
        [i] = group.node_ids
        node = index.nodes[i]
        if node.domain not in ("", "ai.onnx") or node.op_type not in DATA_MOVEMENT:
            continue
        producers = {index.producer[n] for n in index.inputs_of[i] if n in index.producer}
        outputs_leave = any(o in index.graph_outputs for o in node.output)
        fed = index.users[i]
        if producers and fed and not outputs_leave and all(labels[j] == FALLBACK for j in [*producers, *fed]):
            lone.append(i)
    return lone


def _label_nodes(spec: PlanSpec, supports: Mapping[str, list[Support]], count: int) -> Iterator[tuple[str, Support]]:
    """Each node's engine label and the Support that decided it.

    single/hetero: the first listed device that supports the node; multi: every device must.
    """
    for i in range(count):
        verdicts = [(d, supports[d][i]) for d in spec.devices]
        if spec.mode == PlanMode.MULTI:
            failing = [(d, s) for d, s in verdicts if not s.ok]
            if not failing:
                yield PartitionKind.OPENVINO.value, verdicts[0][1]  # MULTI: every device
                continue
            verdicts = failing
        else:
            chosen = next(((d, s) for d, s in verdicts if s.ok), None)
            if chosen:
                yield chosen
                continue
        if len(verdicts) == 1:
            yield FALLBACK, verdicts[0][1]
        else:
            reason = "; ".join(f"{d}: {s.reason}" for d, s in verdicts)
            yield FALLBACK, Support(False, reason, verdicts[0][1].source)
