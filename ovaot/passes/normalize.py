"""Normalisations every model gets before partitioning; they keep the public signature and the numbers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
from onnx import AttributeProto, GraphProto, ModelProto, TensorShapeProto, TypeProto, helper, numpy_helper

from ovaot.compiler.graph import subgraphs
from ovaot.passes.base import PassResult

_CONSTANT_VALUE_ATTRS = {"value", "value_float", "value_floats", "value_int", "value_ints"}


class InitializersAsConstants:
    """Drop initializers from the graph inputs (IR<4 style): they are weights, not things a user feeds."""

    name = "initializers_as_constants"
    opt_level = 0
    requires: tuple[str, ...] = ()
    description = "initializers listed as graph inputs (IR<4 style) become constants, not inputs"

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        weights = {t.name for t in graph.initializer}
        keep = [i for i in graph.input if i.name not in weights]
        modified = len(keep) != len(graph.input)
        if modified:
            del graph.input[:]
            graph.input.extend(keep)
        if model.ir_version < 4:
            # From IR 4 on, initializers need not be graph inputs; the checker holds us to that.
            model.ir_version = 4
            modified = True
        return PassResult(model, modified)


class ConstantNodesAsInitializers:
    """Turn Constant nodes into initializers so every partition that reads one gets its own copy."""

    name = "constant_nodes_as_initializers"
    opt_level = 0
    requires: tuple[str, ...] = ()
    description = "Constant nodes become initializers, so each partition gets its own copy"

    def __call__(self, model: ModelProto) -> PassResult:
        graph = model.graph
        keep, modified = [], False
        outputs = {o.name for o in graph.output}
        for node in graph.node:
            attr = node.attribute[0] if len(node.attribute) == 1 else None
            if (
                node.op_type != "Constant"
                or node.domain not in ("", "ai.onnx")
                or attr is None
                or attr.name not in _CONSTANT_VALUE_ATTRS
                or node.output[0] in outputs
            ):
                keep.append(node)
                continue
            value = helper.get_attribute_value(attr)
            if attr.type == AttributeProto.TENSOR:
                tensor = value
            else:
                dtype = "float32" if attr.name.startswith("value_float") else "int64"
                tensor = numpy_helper.from_array(np.asarray(value, dtype=dtype))
            tensor.name = node.output[0]
            graph.initializer.append(tensor)
            modified = True
        if modified:
            del graph.node[:]
            graph.node.extend(keep)
        return PassResult(model, modified)


class NameNodes:
    """Give every node a unique, deterministic name; partitions and the manifest refer to nodes by name."""

    name = "name_nodes"
    opt_level = 0
    requires: tuple[str, ...] = ()
    description = "every node gets a unique, deterministic name"

    def __call__(self, model: ModelProto) -> PassResult:
        counts = Counter(n.name for n in model.graph.node if n.name)
        taken = set(counts)
        modified = False
        for index, node in enumerate(model.graph.node):
            if node.name and counts[node.name] == 1:
                continue
            base = f"{node.name or node.op_type}_{index}"
            name, suffix = base, 0
            while name in taken:
                suffix += 1
                name = f"{base}_{suffix}"
            node.name = name
            taken.add(name)
            modified = True
        return PassResult(model, modified)


class NonPositiveDimsAsDynamic:
    """Clear declared dimensions of -1 or 0: PaddlePaddle and some TensorFlow exporters write a dynamic dimension
    that way. onnxruntime and OpenVINO read -1 as dynamic; ovaot reads 0 as dynamic too, so that such a model
    takes feeds of any size there, as its exporter meant."""

    name = "non_positive_dims_as_dynamic"
    opt_level = 0
    requires: tuple[str, ...] = ()
    description = "declared dimensions of -1 or 0 become dynamic"

    def __call__(self, model: ModelProto) -> PassResult:
        modified = False
        for graph in _graphs(model.graph):
            for value in (*graph.input, *graph.output, *graph.value_info):
                for dim in _dims(value.type):
                    if dim.HasField("dim_value") and dim.dim_value <= 0:
                        dim.Clear()
                        modified = True
        return PassResult(model, modified)


def _graphs(graph: GraphProto) -> Iterator[GraphProto]:
    """The graph and every subgraph in it (If branches, Loop and Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for subgraph in subgraphs(node):
            yield from _graphs(subgraph)


def _dims(t: TypeProto) -> Iterator[TensorShapeProto.Dimension]:
    """The shape dimensions of a type, inside sequences and optionals too."""
    kind = t.WhichOneof("value")
    if kind in ("tensor_type", "sparse_tensor_type"):
        yield from getattr(t, kind).shape.dim
    elif kind in ("sequence_type", "optional_type"):
        yield from _dims(getattr(t, kind).elem_type)
    elif kind == "map_type":
        yield from _dims(t.map_type.value_type)


NORMALIZE_PASSES = (InitializersAsConstants(), ConstantNodesAsInitializers(), NameNodes(), NonPositiveDimsAsDynamic())
