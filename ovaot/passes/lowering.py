"""Rewrites that move a node from the numpy fallback onto a device by expressing it in ops OpenVINO runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import ModelProto, TensorProto, helper, numpy_helper

from ovaot.passes.base import PassResult


@dataclass(frozen=True)
class LowerMlScaler:
    """ai.onnx.ml Scaler(x) = (float(x) - offset) * scale, as Cast, Sub and Mul."""

    name: str = "lower_ml_scaler"
    opt_level: int = 2
    description: str = "rewrite ai.onnx.ml.Scaler (no OpenVINO conversion) as Cast, Sub and Mul"
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        nodes, modified = [], False
        for node in graph.node:
            if node.domain != "ai.onnx.ml" or node.op_type != "Scaler":
                nodes.append(node)
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            base = node.name or node.output[0]
            offset = numpy_helper.from_array(np.array(attrs.get("offset", [0.0]), np.float32), f"{base}/offset")
            scale = numpy_helper.from_array(np.array(attrs.get("scale", [1.0]), np.float32), f"{base}/scale")
            graph.initializer.extend([offset, scale])
            nodes += [
                helper.make_node("Cast", [node.input[0]], [f"{base}/x"], name=f"{base}/cast", to=TensorProto.FLOAT),
                helper.make_node("Sub", [f"{base}/x", offset.name], [f"{base}/centred"], name=f"{base}/sub"),
                helper.make_node("Mul", [f"{base}/centred", scale.name], [node.output[0]], name=f"{base}/mul"),
            ]
            modified = True
        if modified:
            del graph.node[:]
            graph.node.extend(nodes)
            if not any(n.domain == "ai.onnx.ml" for n in graph.node):
                kept = [o for o in model.opset_import if o.domain != "ai.onnx.ml"]
                del model.opset_import[:]
                model.opset_import.extend(kept)
        return PassResult(model, modified)
