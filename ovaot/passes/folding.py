"""Constant folding and static-shape folding: compute at build time what does not depend on the inputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import ModelProto, helper, numpy_helper

from ovaot.compiler.graph import node_inputs
from ovaot.passes.base import PassResult
from ovaot.passes.weights import inferred_value_info

log = logging.getLogger(__name__)

# Ops whose result must not be computed once at build time.
_NOT_FOLDABLE = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Multinomial", "Bernoulli"}


def _static_shape(value: onnx.ValueInfoProto) -> list[int] | None:
    t = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    return None if any(d is None for d in dims) else dims


def _element_count(value: onnx.ValueInfoProto | None) -> int | None:
    shape = _static_shape(value) if value is not None else None
    return int(np.prod(shape)) if shape is not None else None


@dataclass(frozen=True)
class FoldShapes:
    """Replace Shape of a tensor whose shape is fully static by a constant."""

    name: str = "fold_shapes"
    opt_level: int = 1
    description: str = "replace Shape of a statically shaped tensor by a constant"
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        values = inferred_value_info(model, data_prop=True)
        values.update(
            {t.name: helper.make_tensor_value_info(t.name, t.data_type, t.dims) for t in model.graph.initializer}
        )
        outputs = {o.name for o in model.graph.output}
        keep, modified = [], False
        for node in model.graph.node:
            shape = (
                _static_shape(values[node.input[0]]) if node.op_type == "Shape" and node.input[0] in values else None
            )
            if shape is None or node.domain not in ("", "ai.onnx") or node.output[0] in outputs:
                keep.append(node)
                continue
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            sliced = shape[slice(attrs.get("start", 0), attrs.get("end"))]
            model.graph.initializer.append(numpy_helper.from_array(np.array(sliced, np.int64), node.output[0]))
            modified = True
        if modified:
            del model.graph.node[:]
            model.graph.node.extend(keep)
        return PassResult(model, modified)


@dataclass(frozen=True)
class FoldConstants:
    """Compute nodes whose inputs are all constants with onnx.reference; keep results up to a size cap.

    The cap keeps weights made at run time (ConstantOfShape of a large shape) out of the package unless
    the user raises it.
    """

    limit_bytes: int = 1 << 20
    name: str = "fold_constants"
    opt_level: int = 1
    description: str = "compute constant subgraphs at build time (results up to --fold-limit bytes)"
    requires: tuple[str, ...] = ()

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        values = inferred_value_info(model)
        constants = {t.name: t for t in graph.initializer}
        outputs = {o.name for o in graph.output}
        opsets = list(model.opset_import)
        keep, folded_inputs = [], set()
        for node in graph.node:
            folded = self._fold(node, constants, values, outputs, opsets)
            if folded is None:
                keep.append(node)
                continue
            for tensor in folded:
                graph.initializer.append(tensor)
                constants[tensor.name] = tensor
            folded_inputs.update(node.input)
        if folded_inputs:
            del graph.node[:]
            graph.node.extend(keep)
            # Constants only the folded nodes read are dead now; keep what anything else still reads.
            still_read = {n for node in keep for n in node_inputs(node)} | outputs
            live = [t for t in graph.initializer if t.name not in folded_inputs or t.name in still_read]
            del graph.initializer[:]
            graph.initializer.extend(live)
        return PassResult(model, bool(folded_inputs))

    def _fold(self, node, constants, values, outputs, opsets) -> list[onnx.TensorProto] | None:
        inputs = [n for n in node.input if n]
        if (
            node.op_type in _NOT_FOLDABLE
            or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)
            or not all(n in constants for n in inputs)
            or any(o in outputs for o in node.output)
            or (not inputs and node.op_type != "Constant")
        ):
            return None
        counts = [_element_count(values.get(o)) for o in node.output if o]
        if any(c is not None and c * 8 > self.limit_bytes for c in counts):
            return None
        sub = helper.make_model(
            helper.make_graph(
                [node],
                "fold",
                [],
                [helper.make_empty_tensor_value_info(o) for o in node.output if o],
                initializer=[constants[n] for n in dict.fromkeys(inputs)],
            ),
            opset_imports=opsets,
        )
        from ovaot.engines.reference import reference_evaluator  # onnx.reference only when folding

        try:
            results = reference_evaluator(sub).run(None, {})
        except Exception as exc:  # an op onnx.reference cannot run stays in the graph
            log.debug("fold_constants: leaving %s (%s)", node.name, exc)
            return None
        arrays = [np.asarray(r) for r in results]
        if any(a.dtype == object or a.nbytes > self.limit_bytes for a in arrays):
            return None
        return [numpy_helper.from_array(a, name) for a, name in zip(arrays, [o for o in node.output if o])]
