"""ovaot's own eliminations, for patterns onnxoptimizer 0.4.2's passes of the same name leave alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from onnx import AttributeProto, ModelProto, NodeProto, numpy_helper

from ovaot.passes.base import PassResult
from ovaot.passes.weights import inferred_value_info

_IDEMPOTENT = {"Relu", "Floor", "Ceil", "Round", "Abs", "Sign"}


def _rename_uses(model: ModelProto, renames: dict[str, str]) -> None:
    """Point every reader of a removed tensor at its replacement (graph outputs keep their names)."""
    for node in model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]


def _replace_nodes(model: ModelProto, keep: list[NodeProto]) -> None:
    del model.graph.node[:]
    model.graph.node.extend(keep)


def _bypass(model: ModelProto, source_of: Callable[[NodeProto], str | None]) -> bool:
    """Drop each node for which `source_of` names the input its output equals; its readers read that input."""
    renames: dict[str, str] = {}
    keep = []
    for node in model.graph.node:
        source = source_of(node)
        if source is None:
            keep.append(node)
        else:
            renames[node.output[0]] = renames.get(source, source)
    if renames:
        _rename_uses(model, renames)
        _replace_nodes(model, keep)
    return bool(renames)


def _has_subgraph(node: NodeProto) -> bool:
    return any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute)


@dataclass(frozen=True)
class EliminateCommonSubexpression:
    """Compute identical nodes (same op, attributes and inputs) once."""

    name: str = "eliminate_common_subexpression"
    opt_level: int = 2
    description: str = "compute identical nodes on identical inputs once"
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        outputs = {o.name for o in model.graph.output}
        seen: dict[bytes, NodeProto] = {}
        renames: dict[str, str] = {}
        keep = []
        for node in model.graph.node:
            node.input[:] = [renames.get(n, n) for n in node.input]
            key = _signature(node)
            first = seen.get(key) if key is not None and not (set(node.output) & outputs) else None
            if first is None:
                if key is not None:
                    seen.setdefault(key, node)
                keep.append(node)
                continue
            renames.update(zip(node.output, first.output))
        if renames:
            _rename_uses(model, renames)
            _replace_nodes(model, keep)
        return PassResult(model, bool(renames))


def _signature(node: NodeProto) -> bytes | None:
    if _has_subgraph(node) or node.op_type.startswith("Random") or node.op_type in ("Multinomial", "Bernoulli"):
        return None
    attributes = b"".join(a.SerializeToString(deterministic=True) for a in sorted(node.attribute, key=lambda a: a.name))
    return f"{node.domain}|{node.op_type}|{','.join(node.input)}|{len(node.output)}|".encode() + attributes


@dataclass(frozen=True)
class EliminateConsecutiveIdempotentOps:
    """f(f(x)) = f(x) for Relu, Floor, Ceil, Round, Abs and Sign: drop the second application."""

    name: str = "eliminate_consecutive_idempotent_ops"
    opt_level: int = 1
    description: str = "collapse an idempotent op applied twice (Relu(Relu(x)))"
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        outputs = {o.name for o in model.graph.output}
        producers = {out: n for n in model.graph.node for out in n.output}

        def source_of(node: NodeProto) -> str | None:
            source = producers.get(node.input[0]) if node.input else None
            repeated = (
                node.domain in ("", "ai.onnx")
                and node.op_type in _IDEMPOTENT
                and source is not None
                and source.op_type == node.op_type
                and source.domain == node.domain
                and node.output[0] not in outputs
            )
            return node.input[0] if repeated else None

        return PassResult(model, _bypass(model, source_of))


@dataclass(frozen=True)
class EliminateNopWithUnit:
    """x * 1, x / 1, x + 0 and x - 0 with a constant that changes neither the shape nor the type: drop them."""

    name: str = "eliminate_nop_with_unit"
    opt_level: int = 1
    description: str = "remove Mul or Div by 1 and Add or Sub of 0 that change neither shape nor type"
    requires: tuple[str, ...] = ()

    _UNITS: ClassVar[dict[str, int]] = {"Mul": 1, "Div": 1, "Add": 0, "Sub": 0}

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        types = {name: v.type for name, v in inferred_value_info(model).items()}
        constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        outputs = {o.name for o in graph.output}

        def source_of(node: NodeProto) -> str | None:
            unit = self._UNITS.get(node.op_type) if node.domain in ("", "ai.onnx") else None
            x, c = (node.input[0], node.input[1]) if len(node.input) == 2 else (None, None)
            neutral = (
                unit is not None
                and c in constants
                and x not in constants
                and np.all(constants[c] == unit)
                and node.output[0] not in outputs
                and x in types
                and node.output[0] in types
                and types[x] == types[node.output[0]]
                and types[x].tensor_type.HasField("shape")
            )
            return x if neutral else None

        return PassResult(model, _bypass(model, source_of))


@dataclass(frozen=True)
class EliminateNopDropout:
    """Dropout at inference (no training_mode, or a constant False) is the identity when its mask is unused."""

    name: str = "eliminate_nop_dropout"
    opt_level: int = 1
    description: str = "remove Dropout, the identity at inference, when nothing reads its mask"
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        read = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
        outputs = {o.name for o in graph.output}

        def source_of(node: NodeProto) -> str | None:
            training = node.input[2] if len(node.input) > 2 else ""
            identity = (
                node.op_type == "Dropout"
                and node.domain in ("", "ai.onnx")
                and (not training or (training in constants and not constants[training].any()))
                and not (len(node.output) > 1 and node.output[1] in read)
                and node.output[0] not in outputs
            )
            return node.input[0] if identity else None

        return PassResult(model, _bypass(model, source_of))
