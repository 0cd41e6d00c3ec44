"""Run one OpenVINO partition: import its compiled blob, or compile its IR where no blob fits this host."""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ovaot.engines import ov_c
from ovaot.engines.ports import port_binding
from ovaot.errors import DeviceError, first_line
from ovaot.format.manifest import Partition, StrEnum
from ovaot.format.package import PackageReader
from ovaot.loader.log import LoaderLog

log = LoaderLog(__name__)

Compiled = ov_c.CompiledModel


class CompiledFrom(StrEnum):
    """How a partition's compiled model was obtained on this host."""

    BLOB = "blob"  # the precompiled blob, imported
    IR = "ir"  # the bundled IR, compiled at load


def compile_ir(core: ov_c.Core, reader: PackageReader, partition: Partition, device: str, config: dict) -> Compiled:
    if "ir_xml" not in partition.artifacts:
        raise DeviceError(
            f"partition {partition.index}: no usable blob for {device}, and the package holds no IR to compile "
            "(it was compiled with --no-ir)"
        )
    xml = bytes(reader.view(partition.artifacts["ir_xml"]))
    return core.compile_model_from_memory(xml, reader.view(partition.artifacts["ir_bin"]), device, config)


def open_compiled(
    core: ov_c.Core,
    reader: PackageReader,
    partition: Partition,
    asked: str,
    device: str,
    config: dict[str, str],
    strict: bool,
    use_blob: bool = True,
) -> tuple[Compiled, CompiledFrom]:
    """The partition compiled for `device`: the blob built for `asked` when it imports, else the IR.

    The blob is imported from the package's memory map, not copied: OpenVINO runs its weights in place.
    Returns the compiled model and how it was obtained.
    """
    member = partition.blobs.get(asked) if use_blob else None
    if member is None:
        return compile_ir(core, reader, partition, device, config), CompiledFrom.IR
    built_with = partition.blob_built_with.get(asked, {}).get("openvino_version")
    if built_with is not None and built_with != ov_c.version():
        reason = f"it was built with OpenVINO {built_with}, this is {ov_c.version()}"
    else:
        try:
            return core.import_model(reader.view(member), device, config), CompiledFrom.BLOB
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
    return compile_ir(core, reader, partition, device, config), CompiledFrom.IR


class CompiledPartition:
    """A partition compiled for one device, with a pool of infer requests so concurrent runs never share one."""

    def __init__(self, compiled: Compiled, partition: Partition, device: str, how: CompiledFrom) -> None:
        self.compiled = compiled
        self.device = device
        self.how = how
        self._inputs = port_binding([p.names for p in compiled.inputs], partition.consumes, partition.input_ports)
        given = port_binding([p.names for p in compiled.outputs], partition.produces, partition.produces)
        self._outputs = [(given.index(name), name) for name in partition.produces if name in given]
        missing = sorted(set(partition.produces) - set(given))
        if missing:
            raise DeviceError(f"partition {partition.index}: compiled model has no output {missing[0]!r}")
        # idle infer requests; deque.append and deque.pop are atomic, so concurrent runs need no lock
        self._idle: collections.deque[ov_c.InferRequest] = collections.deque()

    def run(self, env: dict[str, Any]) -> None:
        try:
            request = self._idle.pop()
        except IndexError:
            request = self.compiled.create_infer_request()
        try:
            values = request.infer([env[name] for name in self._inputs])
            for i, name in self._outputs:
                env[name] = values[i]
        finally:
            self._idle.append(request)

    def last_profile(self) -> list[dict[str, Any]]:
        """OpenVINO's per-op timing of the last run (the model loaded with PERF_COUNT=YES); [] before any run."""
        return self._idle[-1].profiling() if self._idle else []

    def run_pipelined(self, envs: Iterable[dict[str, Any]], in_flight: int) -> Iterator[dict[str, Any]]:
        """Run many inputs with `in_flight` asynchronous infer requests; results come back in input order.

        OpenVINO's own queueing: each request is started and the oldest waited for (the wait releases the GIL),
        so no Python thread per request is needed.
        """
        requests = [self.compiled.create_infer_request() for _ in range(max(1, in_flight))]
        pending: collections.deque[tuple[ov_c.InferRequest, dict[str, Any]]] = collections.deque()

        def finish() -> dict[str, Any]:
            request, env = pending.popleft()
            request.wait()
            values = request.outputs()
            env.update((name, values[i]) for i, name in self._outputs)
            return env

        for number, env in enumerate(envs):
            if len(pending) == len(requests):
                yield finish()
            request = requests[number % len(requests)]
            request.start_async([env[name] for name in self._inputs])
            pending.append((request, env))
        while pending:
            yield finish()

    def close(self) -> None:
        """Free the idle infer requests and the compiled model (and so the blob memory it runs on)."""
        while self._idle:
            self._idle.pop().close()
        self.compiled.close()


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

    def close(self) -> None:
        for partition in self.per_device:
            partition.close()
