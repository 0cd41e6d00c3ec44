"""Set large weights aside while a tool that copies the whole model (onnxoptimizer, shape inference) runs."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import onnx
from onnx import ModelProto, TensorProto

MARK = "ovaot-weights-aside"  # the external data "location" of a tensor whose data is set aside
MIN_BYTES = 4096  # weights this large or larger are set aside
_ALIGNMENT = 64  # of each weight in an external data file


class Stash:
    """The raw bytes of the weights set aside, by initializer name."""

    def __init__(self) -> None:
        self.data: dict[str, bytes | memoryview] = {}  # views: of the serialised model (weights_reader)

    def fill(self, model: ModelProto) -> None:
        """Copy the data into the tensors of `model` (a model made from the one set aside, such as a subgraph of
        it) that are marked as set aside, keeping the data here for the model it came from."""
        self._put_back(model, self.data.__getitem__)

    def restore(self, model: ModelProto) -> None:
        """Put the data back into `model` (once: each tensor's bytes are let go as they are copied in)."""
        self._put_back(model, self.data.pop)

    def _put_back(self, model: ModelProto, take: Callable[[str], bytes | memoryview]) -> None:
        for tensor in model.graph.initializer:
            if is_set_aside(tensor):
                tensor.raw_data = bytes(take(tensor.name))  # bytes of bytes is the same object: no copy
                tensor.data_location = TensorProto.DEFAULT
                del tensor.external_data[:]


def is_set_aside(tensor: TensorProto) -> bool:
    """Whether the tensor's data is in a Stash (marked by set_weights_aside or weights_reader)."""
    return tensor.data_location == TensorProto.EXTERNAL and any(e.value == MARK for e in tensor.external_data)


def set_weights_aside(model: ModelProto, into: Stash | None = None) -> Stash:
    """Empty the initializers of 4 KiB or more that hold their data (they look external), into a new Stash or
    `into` (which may hold others of the model's already); Stash.restore puts the data back."""
    stash = into if into is not None else Stash()
    for tensor in model.graph.initializer:
        if tensor.data_location == TensorProto.DEFAULT and len(tensor.raw_data) >= MIN_BYTES:
            stash.data[tensor.name] = tensor.raw_data
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            tensor.external_data.add(key="location", value=MARK)
    return stash


@contextmanager
def weights_aside(model: ModelProto) -> Iterator[Stash]:
    """Within the block, the model's large initializers hold no data; restored after."""
    stash = set_weights_aside(model)
    try:
        yield stash
    finally:
        stash.restore(model)


@contextmanager
def saved_with_external_weights(model: ModelProto, folder: Path, aside: Stash | None = None) -> Iterator[Path]:
    """Within the block, `model` as an ONNX file in `folder` whose large weights lie in a file beside it (ONNX
    external data), written from the weights' own bytes: the whole model is never serialised into one buffer
    (for resnet50, serialising takes 340 MB more at its peak). The model is as it was after the block; the
    files stay in `folder` (the compile's scratch, removed with it), since OpenVINO's model maps the weights.
    `aside`: the model's weights, set aside already by the caller, who puts them back (each 100 MB set aside and
    put back costs 0.1 s)."""
    stash = aside if aside is not None else set_weights_aside(model)
    aside_tensors = [t for t in model.graph.initializer if t.name in stash.data]
    try:
        fd, name = tempfile.mkstemp(prefix="model-", suffix=".onnx", dir=folder)
        os.close(fd)
        path = Path(name)
        weights = path.with_suffix(".weights")
        with open(weights, "wb") as out:
            for tensor in aside_tensors:
                data = stash.data[tensor.name]
                out.write(bytes(-out.tell() % _ALIGNMENT))
                offset = out.tell()
                out.write(data)
                del tensor.external_data[:]
                for key, value in (("location", weights.name), ("offset", offset), ("length", len(data))):
                    tensor.external_data.add(key=key, value=str(value))
        path.write_bytes(model.SerializeToString())
        yield path
    finally:
        for tensor in aside_tensors:  # marked as set aside again, so that the stash gives their bytes back
            del tensor.external_data[:]
            tensor.external_data.add(key="location", value=MARK)
        if aside is None:
            stash.restore(model)


def inferred_value_info(model: ModelProto, data_prop: bool = False) -> dict[str, onnx.ValueInfoProto]:
    """Shape inference's view of every named value (inputs, intermediates, outputs), without copying weights."""
    with weights_aside(model):
        graph = onnx.shape_inference.infer_shapes(model, data_prop=data_prop).graph
    return {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}
