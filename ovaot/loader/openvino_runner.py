"""Run one OpenVINO partition: import its compiled blob, or compile its IR where no blob fits this host."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from typing import Any

import numpy as np
import openvino as ov

from ovaot.errors import DeviceError, first_line
from ovaot.manifest import Partition
from ovaot.package import PackageReader

log = logging.getLogger(__name__)


def compile_ir(
    core: ov.Core, reader: PackageReader, partition: Partition, device: str, config: dict
) -> ov.CompiledModel:
    weights = np.frombuffer(reader.read(partition.artifacts["ir_bin"]), dtype=np.uint8)
    model = core.read_model(reader.read(partition.artifacts["ir_xml"]).decode(), ov.Tensor(weights))
    return core.compile_model(model, device, config)


def open_compiled(
    core: ov.Core,
    reader: PackageReader,
    partition: Partition,
    asked: str,
    device: str,
    config: dict[str, str],
    strict: bool,
    use_blob: bool = True,
) -> tuple[ov.CompiledModel, str]:
    """The partition compiled for `device`: the blob built for `asked` when it imports, else the IR.

    Returns the compiled model and how it was obtained ("blob" or "ir").
    """
    member = partition.blobs.get(asked) if use_blob else None
    if member is None:
        return compile_ir(core, reader, partition, device, config), "ir"
    built_with = partition.blob_built_with.get(asked, {}).get("openvino_version")
    if built_with is not None and built_with != ov.get_version():
        reason = f"it was built with OpenVINO {built_with}, this is {ov.get_version()}"
    else:
        try:
            return core.import_model(reader.read(member), device, config), "blob"
        except RuntimeError as exc:
            reason = f"it does not import on this host: {first_line(exc)}"
    if strict:
        raise DeviceError(
            f"partition {partition.index}: the {device} blob is unusable ({reason}); "
            "strict=True refuses to compile the bundled IR instead"
        )
    log.warning(
        "partition %d: the %s blob is unusable (%s); compiling the bundled IR instead", partition.index, device, reason
    )
    return compile_ir(core, reader, partition, device, config), "ir"


def input_binding(compiled: ov.CompiledModel, consumes: list[str], recorded: list[str] = ()) -> list[str]:
    """The tensor each input port of `compiled` takes, in port order: by tensor name, else as recorded.

    OpenVINO renames a parameter that feeds a result directly (an identity Einsum, an inference Dropout):
    the imported blob's port carries only the output's name. The compiler records the binding it saw
    before export (Partition.input_ports); OpenVINO may also drop parameters nothing reads.
    """
    binding = []
    for position, port in enumerate(compiled.inputs):
        named = [name for name in consumes if name in port.get_names()]
        if named:
            binding.append(named[0])
        elif len(recorded) == len(compiled.inputs):
            binding.append(recorded[position])
        else:
            raise DeviceError(f"compiled partition input {sorted(port.get_names())} matches none of {consumes}")
    return binding


class CompiledPartition:
    """A partition compiled for one device, with a pool of infer requests so concurrent runs never share one."""

    def __init__(self, compiled: ov.CompiledModel, partition: Partition, device: str, how: str) -> None:
        self.compiled = compiled
        self.device = device
        self.how = how
        self._inputs = input_binding(compiled, partition.consumes, partition.input_ports)
        self._outputs = {name: self._output_index(name, partition) for name in partition.produces}
        self._requests: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()

    def _output_index(self, name: str, partition: Partition) -> int:
        for i, port in enumerate(self.compiled.outputs):
            if name in port.get_names():
                return i
        raise DeviceError(f"partition {partition.index}: compiled model has no output {name!r}")

    def run(self, env: dict[str, Any]) -> None:
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            values = request.infer([env[name] for name in self._inputs]).to_tuple()
            for name, i in self._outputs.items():
                env[name] = values[i]
        finally:
            self._requests.put(request)


class MultiDevicePartition:
    """MULTI: one compiled partition per present device; each run goes to the next device in turn."""

    def __init__(self, per_device: list[CompiledPartition]) -> None:
        self.per_device = per_device
        self._next = itertools.cycle(per_device)
        self._lock = threading.Lock()
        self.runs_by_device = {p.device: 0 for p in per_device}

    def run(self, env: dict[str, Any]) -> None:
        with self._lock:
            chosen = next(self._next)
            self.runs_by_device[chosen.device] += 1
        chosen.run(env)
