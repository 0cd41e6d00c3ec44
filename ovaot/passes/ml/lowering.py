"""The lowering pass: each ai.onnx.ml node it knows replaced by the nodes its lowering emits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from onnx import ModelProto, NodeProto, helper, version_converter

from ovaot.passes.base import PassResult
from ovaot.passes.ml import linear, trees
from ovaot.passes.ml.emitter import MIN_OPSET, Emitter, Unsupported

log = logging.getLogger(__name__)

ML_DOMAIN = "ai.onnx.ml"
Lowering = Callable[[NodeProto, Emitter], None]


@dataclass(frozen=True)
class LowerMlOps:
    name: str
    description: str
    lowerings: Mapping[str, Lowering]  # ai.onnx.ml op type -> what writes its replacement
    opt_level: int = 0
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        if not any(n.domain == ML_DOMAIN and n.op_type in self.lowerings for n in graph.node):
            return PassResult(model, False)
        original, model = model, raise_opset(model, MIN_OPSET)
        graph, opset = model.graph, _default_opset(model)
        nodes, modified = [], False
        for node in graph.node:
            lowering = self.lowerings.get(node.op_type) if node.domain == ML_DOMAIN else None
            if lowering is None:
                nodes.append(node)
                continue
            out = Emitter(node, opset)
            try:
                if opset < MIN_OPSET:
                    raise Unsupported(f"the model's opset {opset} is below {MIN_OPSET}")
                lowering(node, out)
            except Unsupported as exc:
                log.info("%s: %s %s stays in ai.onnx.ml: %s", self.name, node.op_type, out.base, exc)
                nodes.append(node)
                continue
            nodes.extend(out.nodes)
            graph.initializer.extend(out.initializers)
            modified = True
        if modified:
            del graph.node[:]
            graph.node.extend(nodes)
            if not any(n.domain == ML_DOMAIN for n in graph.node):
                kept = [o for o in model.opset_import if o.domain != ML_DOMAIN]
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


ML_LOWERING_PASSES = [
    LowerMlOps(
        "lower_ml_preprocessing",
        "rewrite ai.onnx.ml Scaler, Normalizer and Binarizer as element-wise standard ops",
        {"Scaler": linear.lower_scaler, "Normalizer": linear.lower_normalizer, "Binarizer": linear.lower_binarizer},
    ),
    LowerMlOps(
        "lower_ml_linear",
        "rewrite ai.onnx.ml LinearClassifier and LinearRegressor as MatMul, Add and the post-transform",
        {"LinearClassifier": linear.lower_linear_classifier, "LinearRegressor": linear.lower_linear_regressor},
    ),
    LowerMlOps(
        "lower_ml_tree_ensemble",
        "rewrite ai.onnx.ml tree ensembles as gathers (deep trees) or batched MatMuls (shallow trees)",
        {"TreeEnsembleClassifier": trees.lower_classifier, "TreeEnsembleRegressor": trees.lower_regressor},
    ),
]
