"""Read-only views of an ONNX graph: producers, users, implicit inputs, value types and subgraph extraction."""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import GraphProto, ModelProto, NodeProto, TypeProto, helper


def subgraph_outer_names(graph: GraphProto) -> set[str]:
    """Names a nested graph reads from enclosing scopes (used but not defined inside it)."""
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    defined |= {t.name for t in graph.sparse_initializer}
    used: set[str] = set()
    for node in graph.node:
        used.update(n for n in node_inputs(node) if n)
        defined.update(node.output)
    used.update(o.name for o in graph.output)
    return used - defined


def subgraphs(node: NodeProto) -> list[GraphProto]:
    """The graphs a node holds: If's branches, Loop's and Scan's bodies."""
    return [g for a in node.attribute for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else a.graphs)]


def node_inputs(node: NodeProto) -> list[str]:
    """A node's explicit inputs followed by the outer-scope names its subgraphs read, without blanks."""
    names = [n for n in node.input if n]
    for graph in subgraphs(node):
        names.extend(sorted(subgraph_outer_names(graph) - set(names)))
    return names


@dataclass
class GraphIndex:
    """Who produces and who uses each tensor of a topologically sorted graph."""

    nodes: list[NodeProto]
    inputs_of: list[list[str]]
    producer: dict[str, int]
    users: list[list[int]]
    initializers: dict[str, onnx.TensorProto]
    graph_inputs: list[str]
    graph_outputs: list[str]
    value_types: dict[str, TypeProto]

    @classmethod
    def build(cls, model: ModelProto) -> GraphIndex:
        graph = model.graph
        nodes = list(graph.node)
        inputs_of = [node_inputs(n) for n in nodes]
        producer = {out: i for i, n in enumerate(nodes) for out in n.output if out}
        users: list[list[int]] = [[] for _ in nodes]
        for i, names in enumerate(inputs_of):
            for source in sorted({producer[n] for n in names if n in producer}):
                users[source].append(i)
        value_types = {v.name: v.type for v in [*graph.input, *graph.value_info, *graph.output]}
        for init in graph.initializer:
            value_types.setdefault(init.name, helper.make_tensor_type_proto(init.data_type, list(init.dims)))
        return cls(
            nodes=nodes,
            inputs_of=inputs_of,
            producer=producer,
            users=users,
            initializers={t.name: t for t in graph.initializer},
            graph_inputs=[i.name for i in graph.input],
            graph_outputs=[o.name for o in graph.output],
            value_types=value_types,
        )

    def boundary(self, node_ids: list[int]) -> tuple[list[str], list[str]]:
        """The tensors a set of nodes consumes from outside it and the ones it produces for outside."""
        members = set(node_ids)
        consumes: list[str] = []
        produced: set[str] = set()
        for i in node_ids:
            for name in self.inputs_of[i]:
                if name not in produced and name not in self.initializers and name not in consumes:
                    if self.producer.get(name) not in members:
                        consumes.append(name)
            produced.update(o for o in self.nodes[i].output if o)
        outside_use = set(self.graph_outputs)
        for i, names in enumerate(self.inputs_of):
            if i not in members:
                outside_use.update(names)
        produces = [o for i in node_ids for o in self.nodes[i].output if o and o in outside_use]
        return consumes, produces

    def value_info(self, name: str) -> onnx.ValueInfoProto:
        if name not in self.value_types:
            return helper.make_empty_tensor_value_info(name)
        return helper.make_value_info(name, self.value_types[name])

    def extract(self, model: ModelProto, node_ids: list[int], name: str) -> tuple[ModelProto, list[str], list[str]]:
        """A standalone model of the given nodes, with the initializers they read and typed boundaries."""
        consumes, produces = self.boundary(node_ids)
        used = {n for i in node_ids for n in self.inputs_of[i]}
        inner = {o for i in node_ids for o in self.nodes[i].output}
        graph = helper.make_graph(
            nodes=[self.nodes[i] for i in node_ids],
            name=name,
            inputs=[self.value_info(n) for n in consumes],
            outputs=[self.value_info(n) for n in produces],
            initializer=[self.initializers[n] for n in sorted(used) if n in self.initializers],
            value_info=[self.value_info(n) for n in sorted(inner - set(produces)) if n in self.value_types],
        )
        sub = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
        sub.functions.extend(model.functions)
        return sub, consumes, produces
