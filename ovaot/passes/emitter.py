"""Building the standard-ONNX replacement of one node: constants and nodes named under the node they replace."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

FLOAT = TensorProto.FLOAT
INT64 = TensorProto.INT64
MIN_OPSET = 13  # the axes-as-input forms of ReduceSum, Unsqueeze and Squeeze; Softmax on one axis


class Unsupported(Exception):
    """A node this lowering leaves where it is (the fallback runs it), with the reason."""


class Facts(Protocol):
    """What a lowering may ask of the model it rewrites (ovaot.passes.lowering.TensorFacts)."""

    def rank(self, name: str) -> int | None: ...

    def elem_type(self, name: str) -> int | None: ...

    def constant(self, name: str) -> np.ndarray | None: ...


class Emitter:
    def __init__(self, node: NodeProto, opset: int, facts: Facts | None = None) -> None:
        self.base = node.name or node.output[0]
        self.opset = opset
        self.facts = facts
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._count = 0

    def rank(self, name: str) -> int | None:
        """A tensor's rank in the model being rewritten, None where unknown."""
        return self.facts.rank(name) if self.facts else None

    def type(self, name: str) -> int | None:
        """A tensor's element type (TensorProto.FLOAT, ...), None where unknown."""
        return self.facts.elem_type(name) if self.facts else None

    def constant(self, name: str) -> np.ndarray | None:
        """An initializer's value, None for anything else."""
        return self.facts.constant(name) if self.facts else None

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"{self.base}/{hint}_{self._count}"

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        array = np.asarray(value, dtype=dtype)
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        """One node; its (single) output, named `out` or after the op."""
        output = out or self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=self._name(op_type), **attrs))
        return output

    def reduce(self, op_type: str, x: str, axis: int, keepdims: int = 0, out: str | None = None) -> str:
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, x, self.const([axis], "axes", np.int64), out=out, keepdims=keepdims)
        return self.op(op_type, x, out=out, axes=[axis], keepdims=keepdims)

    def cast(self, x: str, to: int = FLOAT, out: str | None = None) -> str:
        return self.op("Cast", x, out=out, to=to)

    def column(self, x: str, index: int) -> str:
        """x[:, index:index + 1]."""
        return self.op(
            "Slice",
            x,
            self.const([index], "start", np.int64),
            self.const([index + 1], "end", np.int64),
            self.const([1], "axis", np.int64),
        )

    def rows(self, x: str) -> str:
        """The batch size of a 2-D x, as a 1-element int64 tensor."""
        return self.op("Gather", self.op("Shape", x), self.const([0], "zero", np.int64))


def attributes(node: NodeProto) -> dict[str, Any]:
    """The node's attributes as Python values, strings decoded."""
    values = {}
    for attribute in node.attribute:
        value = helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, list) and value and isinstance(value[0], bytes):
            value = [v.decode() for v in value]
        elif isinstance(value, TensorProto):
            value = numpy_helper.to_array(value)
        values[attribute.name] = value
    return values


def optional_output(node: NodeProto, index: int) -> str | None:
    """The node's output `index`, None where the node leaves it out."""
    return node.output[index] if len(node.output) > index and node.output[index] else None
