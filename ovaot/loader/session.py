"""Session: a loaded package that runs its partitions in order, with onnxruntime's run() signature."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openvino as ov

from ovaot.errors import InputError
from ovaot.loader.fallback_runner import FallbackRunner
from ovaot.loader.feeds import check_feed
from ovaot.loader.openvino_runner import OpenVINORunner
from ovaot.manifest import Dim, Manifest, Partition
from ovaot.package import PackageReader

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IOInfo:
    """An input or output as onnxruntime's NodeArg describes it: name, shape, type."""

    name: str
    shape: list[Dim] | None
    type: str


class Session:
    """A package ready to run: every partition imported (or compiled) once, at construction."""

    def __init__(self, path: str | os.PathLike) -> None:
        with PackageReader(path) as reader:
            self.manifest: Manifest = reader.manifest
            reader.verify()
            core = ov.Core() if any(p.kind == "openvino" for p in self.manifest.partitions) else None
            self._runners = [self._runner(core, reader, p) for p in self.manifest.partitions]
        self._output_names = [o.name for o in self.manifest.outputs]
        self._release = _last_uses(self.manifest.partitions, set(self._output_names))

    @staticmethod
    def _runner(core: ov.Core | None, reader: PackageReader, partition: Partition) -> OpenVINORunner | FallbackRunner:
        if partition.kind == "openvino":
            assert core is not None
            return OpenVINORunner(core, reader, partition)
        return FallbackRunner(reader, partition)

    def get_inputs(self) -> list[IOInfo]:
        return [IOInfo(v.name, v.shape, v.type) for v in self.manifest.inputs]

    def get_outputs(self) -> list[IOInfo]:
        return [IOInfo(v.name, v.shape, v.type) for v in self.manifest.outputs]

    def run(
        self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any], run_options: object = None
    ) -> list[Any]:
        """Run the model; return the requested outputs (all of them when output_names is None), in order."""
        wanted = list(output_names) if output_names else self._output_names
        unknown = [n for n in wanted if n not in self._output_names]
        if unknown:
            raise InputError(f"unknown output {unknown[0]!r}; the model's outputs are {self._output_names}")
        env: dict[str, Any] = check_feed(self.manifest.inputs, input_feed)
        for runner, release in zip(self._runners, self._release):
            runner.run(env)
            for name in release:
                env.pop(name, None)
        return [env[name] for name in wanted]


def _last_uses(partitions: list[Partition], keep: set[str]) -> list[list[str]]:
    """For each partition, the tensors no later partition reads, so they can be freed after it runs."""
    last: dict[str, int] = {}
    for i, p in enumerate(partitions):
        for name in p.consumes:
            last[name] = i
    release: list[list[str]] = [[] for _ in partitions]
    for name, i in sorted(last.items()):
        if name not in keep:
            release[i].append(name)
    return release


def load(path: str | os.PathLike) -> Session:
    """Open a .ovpkg and prepare it to run on this host."""
    return Session(path)
