"""Set large weights aside while a tool that copies the whole model (onnxoptimizer, shape inference) runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import onnx
from onnx import ModelProto, TensorProto

_MARK = "ovaot-weights-aside"
_MIN_BYTES = 4096


class Stash:
    """The raw bytes of the weights set aside, by initializer name."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def restore(self, model: ModelProto) -> None:
        for tensor in model.graph.initializer:
            if tensor.data_location == TensorProto.EXTERNAL and any(e.value == _MARK for e in tensor.external_data):
                tensor.raw_data = self.data[tensor.name]
                tensor.data_location = TensorProto.DEFAULT
                del tensor.external_data[:]


def set_weights_aside(model: ModelProto) -> Stash:
    """Empty the initializers of 4 KiB or more (they look external); Stash.restore puts the data back."""
    stash = Stash()
    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.DEFAULT and len(tensor.raw_data) >= _MIN_BYTES:
            stash.data[tensor.name] = tensor.raw_data
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            tensor.external_data.add(key="location", value=_MARK)
    return stash


@contextmanager
def weights_aside(model: ModelProto) -> Iterator[Stash]:
    """Within the block, the model's large initializers hold no data; restored after."""
    stash = set_weights_aside(model)
    try:
        yield stash
    finally:
        stash.restore(model)


def inferred_value_info(model: ModelProto, data_prop: bool = False) -> dict[str, onnx.ValueInfoProto]:
    """Shape inference's view of every named value (inputs, intermediates, outputs), without copying weights."""
    with weights_aside(model):
        graph = onnx.shape_inference.infer_shapes(model, data_prop=data_prop).graph
    return {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}
