"""Lowering passes: each node of one domain that a pass knows replaced by the standard ONNX nodes its lowering
emits. They change where an op runs, not what it computes, and so run at every level unless disabled."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from onnx import ModelProto, NodeProto, helper, shape_inference, version_converter

from ovaot.passes.base import PassResult
from ovaot.passes.emitter import MIN_OPSET, Emitter, Unsupported

log = logging.getLogger(__name__)

Lowering = Callable[[NodeProto, Emitter], None]


@dataclass(frozen=True)
class LowerOps:
    name: str
    description: str
    domain: str
    lowerings: Mapping[str, Lowering]  # op type in `domain` -> what writes its replacement
    opt_level: int = 0
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        if not any(n.domain == self.domain and n.op_type in self.lowerings for n in graph.node):
            return PassResult(model, False)
        original, model = model, raise_opset(model, MIN_OPSET)
        graph, opset = model.graph, _default_opset(model)
        nodes, modified, ranks = [], False, Ranks(model)
        for node in graph.node:
            lowering = self.lowerings.get(node.op_type) if node.domain == self.domain else None
            if lowering is None:
                nodes.append(node)
                continue
            out = Emitter(node, opset, ranks)
            try:
                if opset < MIN_OPSET:
                    raise Unsupported(f"the model's opset {opset} is below {MIN_OPSET}")
                lowering(node, out)
            except Unsupported as exc:
                log.info("%s: %s %s stays in %s: %s", self.name, node.op_type, out.base, self.domain, exc)
                nodes.append(node)
                continue
            nodes.extend(out.nodes)
            graph.initializer.extend(out.initializers)
            modified = True
        if modified:
            del graph.node[:]
            graph.node.extend(nodes)
            if not any(n.domain == self.domain for n in graph.node):
                kept = [o for o in model.opset_import if o.domain != self.domain]
                del model.opset_import[:]
                model.opset_import.extend(kept)
        return PassResult(model if modified else original, modified)


def raise_opset(model: ModelProto, wanted: int) -> ModelProto:
    """The model at default-domain opset `wanted` or above where onnx's version converter can take it there
    (converters such as onnxmltools declare the least opset their nodes need, often 9 or none at all)."""
    imports = [o for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if imports and imports[0].version >= wanted:
        return model
    if not imports and not any(n.domain in ("", "ai.onnx") for n in model.graph.node):
        raised = ModelProto()
        raised.CopyFrom(model)
        raised.opset_import.append(helper.make_opsetid("", wanted))
        return raised
    try:
        return version_converter.convert_version(model, wanted)
    except Exception as exc:  # the converter raises bare RuntimeErrors and C++ errors alike
        log.info("opset %s not raised to %d: %s", imports[0].version if imports else None, wanted, exc)
        return model


def _default_opset(model: ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


class Ranks:
    """Tensor ranks in a model, from its initializers and value infos; shape inference runs once, on the first
    name they do not give."""

    def __init__(self, model: ModelProto) -> None:
        self._model = model
        self._known: dict[str, int] | None = None
        self._inferred = False

    def __call__(self, name: str) -> int | None:
        if self._known is None:
            self._known = _ranks(self._model)
        if name not in self._known and not self._inferred:
            self._inferred = True
            try:
                self._known.update(_ranks(shape_inference.infer_shapes(self._model)))
            except Exception as exc:  # onnx raises C++ errors for what it cannot infer
                log.info("shape inference for ranks failed: %s", exc)
        return self._known.get(name)


def _ranks(model: ModelProto) -> dict[str, int]:
    graph = model.graph
    known = {t.name: len(t.dims) for t in graph.initializer}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        if info.type.HasField("tensor_type") and info.type.tensor_type.HasField("shape"):
            known.setdefault(info.name, len(info.type.tensor_type.shape.dim))
    return known
