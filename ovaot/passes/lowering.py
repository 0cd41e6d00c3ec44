"""Lowering passes: each node of one domain that a pass knows replaced by the standard ONNX nodes its lowering
emits. They change where an op runs, not what it computes, and so run at every level unless disabled."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from onnx import ModelProto, NodeProto, TensorProto, helper, numpy_helper, shape_inference, version_converter

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
    min_opset: int = MIN_OPSET  # the default-domain opset the lowerings write, raised to where needed

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        if not any(n.domain == self.domain and n.op_type in self.lowerings for n in graph.node):
            return PassResult(model, False)
        original, model = model, raise_opset(model, self.min_opset)
        graph, opset = model.graph, _default_opset(model)
        nodes, modified, facts = [], False, TensorFacts(model)
        for node in graph.node:
            lowering = self.lowerings.get(node.op_type) if node.domain == self.domain else None
            if lowering is None:
                nodes.append(node)
                continue
            out = Emitter(node, opset, facts)
            try:
                if opset < self.min_opset:
                    raise Unsupported(f"the model's opset {opset} is below {self.min_opset}")
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
            if self.domain and not any(n.domain == self.domain for n in graph.node):
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


class TensorFacts:
    """Tensor ranks and element types in a model, from its initializers and value infos; shape inference runs
    once, on the first name whose rank they do not give."""

    def __init__(self, model: ModelProto) -> None:
        self._model = model
        self._known: dict[str, tuple[int | None, int]] | None = None
        self._inferred = False
        self._constants: dict[str, TensorProto] | None = None

    def _lookup(self, name: str) -> tuple[int | None, int] | None:
        if self._known is None:
            self._known = _facts(self._model)
        if (name not in self._known or self._known[name][0] is None) and not self._inferred:
            self._inferred = True
            try:
                inferred = _facts(shape_inference.infer_shapes(self._model))
            except Exception as exc:  # onnx raises C++ errors for what it cannot infer
                log.info("shape inference for lowering failed: %s", exc)
            else:
                for key, (rank, elem_type) in inferred.items():
                    old_rank, old_type = self._known.get(key, (None, 0))
                    self._known[key] = (old_rank if rank is None else rank, old_type or elem_type)
        return self._known.get(name)

    def rank(self, name: str) -> int | None:
        found = self._lookup(name)
        return found[0] if found else None

    def elem_type(self, name: str) -> int | None:
        found = self._lookup(name)
        return found[1] if found and found[1] else None

    def constant(self, name: str) -> np.ndarray | None:
        if self._constants is None:
            self._constants = {t.name: t for t in self._model.graph.initializer}
        tensor = self._constants.get(name)
        return numpy_helper.to_array(tensor) if tensor is not None else None


def _facts(model: ModelProto) -> dict[str, tuple[int | None, int]]:
    graph = model.graph
    known: dict[str, tuple[int | None, int]] = {t.name: (len(t.dims), t.data_type) for t in graph.initializer}
    for info in [*graph.input, *graph.value_info, *graph.output]:
        if info.type.HasField("tensor_type"):
            tensor = info.type.tensor_type
            known.setdefault(info.name, (len(tensor.shape.dim) if tensor.HasField("shape") else None, tensor.elem_type))
    return known
