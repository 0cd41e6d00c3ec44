"""Run one OpenVINO partition: import its compiled blob, or compile its IR when the blob will not import."""

from __future__ import annotations

import logging
import queue
from typing import Any

import numpy as np
import openvino as ov

from ovaot.errors import DeviceError
from ovaot.manifest import Partition
from ovaot.package import PackageReader

log = logging.getLogger(__name__)


class OpenVINORunner:
    """A compiled partition plus a pool of infer requests, so concurrent runs never share one."""

    def __init__(self, core: ov.Core, reader: PackageReader, partition: Partition) -> None:
        self.partition = partition
        self.imported = True
        self.compiled = self._import_or_compile(core, reader, partition)
        self._inputs = [name for name in partition.consumes if self._has_input(name)]
        self._outputs = {name: self._output_index(name) for name in partition.produces}
        self._requests: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()

    def _import_or_compile(self, core: ov.Core, reader: PackageReader, partition: Partition) -> ov.CompiledModel:
        device = partition.device or "CPU"
        plugin = device.split(".")[0]
        if device != "AUTO" and device not in core.available_devices and plugin not in core.available_devices:
            raise DeviceError(
                f"partition {partition.index} was built for {device}, which this host does not have "
                f"(available: {', '.join(core.available_devices)})"
            )
        try:
            return core.import_model(reader.read(partition.artifacts["blob"]), device, partition.compile_config)
        except RuntimeError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            log.warning(
                "partition %d: compiled blob does not import on this host (%s); compiling the bundled IR instead",
                partition.index,
                reason,
            )
        self.imported = False
        weights = np.frombuffer(reader.read(partition.artifacts["ir_bin"]), dtype=np.uint8)
        model = core.read_model(reader.read(partition.artifacts["ir_xml"]).decode(), ov.Tensor(weights))
        return core.compile_model(model, device, partition.compile_config)

    def _has_input(self, name: str) -> bool:
        return any(name in port.get_names() for port in self.compiled.inputs)

    def _output_index(self, name: str) -> int:
        for i, port in enumerate(self.compiled.outputs):
            if name in port.get_names():
                return i
        raise DeviceError(f"partition {self.partition.index}: compiled model has no output {name!r}")

    def run(self, env: dict[str, Any]) -> None:
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            results = request.infer({name: env[name] for name in self._inputs})
            values = results.to_tuple()
            for name, i in self._outputs.items():
                env[name] = values[i]
        finally:
            self._requests.put(request)
