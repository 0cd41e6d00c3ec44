"""Session: a loaded package that runs its partitions in order, with onnxruntime's run() signature."""

from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ovaot.engines import ov_c
from ovaot.errors import UsageError
from ovaot.format.manifest import Dim, Manifest, Partition, PartitionKind, Plan
from ovaot.format.package import PackageReader
from ovaot.loader.feeds import FeedChecker
from ovaot.loader.log import LoaderLog
from ovaot.loader.openvino_runner import CompiledFrom, CompiledPartition, MultiDevicePartition, open_compiled
from ovaot.loader.placement import Choice, HostDevices, choose_plan, plugin_of
from ovaot.options import ProviderOptions

log = LoaderLog(__name__)


class Runner(Protocol):
    """What runs one partition: CompiledPartition, MultiDevicePartition or FallbackRunner."""

    def run(self, env: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class IOInfo:
    """An input or output as onnxruntime's NodeArg describes it: name, shape, type."""

    name: str
    shape: list[Dim] | None
    type: str


@dataclass(frozen=True)
class Placement:
    """What the loader chose for one partition: where it runs and how it got there."""

    partition: int
    kind: PartitionKind
    devices: list[str]
    how: list[CompiledFrom]  # per device


class _Lifetime:
    """Runs in flight, so that close() frees the runners only when no run is using them."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0
        self.closed = False

    def __enter__(self) -> None:
        """A run starts (a plain context manager, not contextlib's: run() enters it every time)."""
        with self._changed:
            if self.closed:
                raise UsageError("this Session is closed")
            self._active += 1

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._active -= 1
            self._changed.notify_all()

    def close(self) -> bool:
        """Refuse new runs and wait for those in flight; True the first time only."""
        with self._changed:
            first, self.closed = not self.closed, True
            self._changed.wait_for(lambda: self._active == 0)
        return first


class Session:
    """A package ready to run: every partition imported (or compiled) once, at construction."""

    def __init__(
        self,
        source: str | os.PathLike | bytes | bytearray | memoryview,
        *,
        strict: bool = False,
        device_id: str | None = None,
        num_of_threads: int | None = None,
        num_streams: int | None = None,
        performance_hint: str | None = None,
        trusted_keys: Sequence[Any] | None = None,
        perf_count: bool = False,
    ) -> None:
        # given at load time, these override what the package was compiled with
        overrides = ProviderOptions.parse(
            {"num_of_threads": num_of_threads, "num_streams": num_streams, "performance_hint": performance_hint}
        ).openvino_properties()
        if perf_count:  # OpenVINO times each op of each run (ovaot bench --profile)
            overrides["PERF_COUNT"] = "YES"
        with PackageReader(source) as reader:
            self.manifest: Manifest = reader.manifest
            if trusted_keys is not None:
                from ovaot.format.signing import check_signature

                check_signature(reader.manifest_bytes, reader.signature, trusted_keys, str(reader.path))
            every = [p for plan in self.manifest.plans for p in plan.partitions]
            has_openvino = any(p.kind == PartitionKind.OPENVINO for p in every)
            core = ov_c.Core() if has_openvino else None
            host = HostDevices(core.available_devices if core else [], device_id)
            self.plan, choices = choose_plan(self.manifest, host, strict)
            self._runners = self._open(core, reader, choices, strict, overrides)
        self._output_names = [o.name for o in self.manifest.outputs]
        self._release = _last_uses(self.plan.partitions, set(self._output_names))
        self._lifetime = _Lifetime()
        self._check_feed = FeedChecker(self.manifest.inputs)
        for placement in self.placements:
            log.info("partition %d: %s", placement.partition, placement)

    def _open(
        self,
        core: ov_c.Core | None,
        reader: PackageReader,
        choices: list[Choice | None],
        strict: bool,
        overrides: dict[str, str],
    ) -> list[Runner]:
        """A runner per partition of the plan. Fallback partitions are built on a second thread while OpenVINO
        imports the others: importing onnx and onnx.reference then overlaps import_model, whose
        ctypes calls release the GIL."""
        partitions = self.plan.partitions
        fallback = PartitionKind.FALLBACK
        if not any(p.kind == fallback for p in partitions):
            return [self._openvino_runner(core, reader, p, c, strict, overrides) for p, c in zip(partitions, choices)]
        from concurrent.futures import ThreadPoolExecutor

        from ovaot.loader.fallback_runner import FallbackRunner  # imports onnx: only plans with a fallback

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ovaot-fallback") as pool:
            built = {p.index: pool.submit(FallbackRunner, reader, p) for p in partitions if p.kind == fallback}
            opened = {
                p.index: self._openvino_runner(core, reader, p, c, strict, overrides)
                for p, c in zip(partitions, choices)
                if p.kind != fallback
            }
            return [opened[p.index] if p.index in opened else built[p.index].result() for p in partitions]

    @staticmethod
    def _openvino_runner(
        core: ov_c.Core | None,
        reader: PackageReader,
        partition: Partition,
        choice: Choice | None,
        strict: bool,
        overrides: dict[str, str],
    ) -> Runner:
        assert core is not None and choice is not None
        config = {**partition.compile_config, **overrides}
        compiled = []
        for asked, device in choice.devices:
            successor = plugin_of(asked) != plugin_of(device)
            if successor:
                log.warning("partition %d: %s is not here; compiling its IR for %s", partition.index, asked, device)
            model, how = open_compiled(core, reader, partition, asked, device, config, strict, use_blob=not successor)
            compiled.append(CompiledPartition(model, partition, device, how))
        return compiled[0] if len(compiled) == 1 else MultiDevicePartition(compiled)

    @property
    def placements(self) -> list[Placement]:
        result = []
        for partition, runner in zip(self.plan.partitions, self._runners):
            if isinstance(runner, (CompiledPartition, MultiDevicePartition)):
                per_device = runner.per_device if isinstance(runner, MultiDevicePartition) else [runner]
                devices, how = [p.device for p in per_device], [p.how for p in per_device]
                result.append(Placement(partition.index, PartitionKind.OPENVINO, devices, how))
            else:
                result.append(Placement(partition.index, PartitionKind.FALLBACK, [], []))
        return result

    def get_inputs(self) -> list[IOInfo]:
        return [IOInfo(v.name, v.shape, v.type) for v in self.manifest.inputs]

    def get_outputs(self) -> list[IOInfo]:
        return [IOInfo(v.name, v.shape, v.type) for v in self.manifest.outputs]

    def _wanted(self, output_names: Sequence[str] | None) -> list[str]:
        wanted = list(output_names) if output_names else self._output_names
        unknown = [n for n in wanted if n not in self._output_names]
        if unknown:
            raise UsageError(f"unknown output {unknown[0]!r}; the model's outputs are {self._output_names}")
        return wanted

    def run(
        self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any], run_options: object = None
    ) -> list[Any]:
        """Run the model; return the requested outputs (all of them when output_names is None), in order.

        run_options (onnxruntime's RunOptions) has no counterpart here: it is ignored, with a warning.
        """
        if run_options is not None:
            warnings.warn("Session.run: run_options is ignored (ovaot has no run options)", UserWarning, stacklevel=2)
        wanted = self._wanted(output_names)
        env: dict[str, Any] = self._check_feed(input_feed)
        with self._lifetime:
            for runner, release in zip(self._runners, self._release):
                runner.run(env)
                for name in release:
                    env.pop(name, None)
        return [env[name] for name in wanted]

    @property
    def runners(self) -> list[Runner]:
        """The partitions' runners, in plan order: OpenVINO's (CompiledPartition) and the fallback's."""
        return list(self._runners)

    @functools.cached_property
    def optimal_runs_at_once(self) -> int:
        """How many runs at once keep this host busy without crowding it: for a plan that is one OpenVINO
        partition on one device, what the compiled model says (OPTIMAL_NUMBER_OF_INFER_REQUESTS: 1 with the
        CPU's LATENCY hint, one per stream with THROUGHPUT); else 2, as many as run_many's threads: a fallback
        partition runs in Python, so a second run overlaps it with OpenVINO's."""
        runner = self._runners[0] if len(self._runners) == 1 else None
        if isinstance(runner, CompiledPartition):
            return max(1, int(runner.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        return 2

    def run_many(
        self,
        feeds: Sequence[Mapping[str, Any]],
        output_names: Sequence[str] | None = None,
        in_flight: int | None = None,
    ) -> list[list[Any]]:
        """Run several feeds with up to `in_flight` infer requests at once; results in feed order.

        A plan that is one OpenVINO partition on one device runs on OpenVINO's asynchronous requests, by
        default as many as the compiled model says are optimal (OPTIMAL_NUMBER_OF_INFER_REQUESTS: more with
        performance_hint=THROUGHPUT) but at least 2, so that preparing one feed overlaps running another;
        other plans (fallback partitions between, MULTI's devices) run whole feeds on `in_flight` threads
        (default 2).
        """
        wanted = self._wanted(output_names)
        with self._lifetime:
            runner = self._runners[0] if len(self._runners) == 1 else None
            if isinstance(runner, CompiledPartition):
                if in_flight is None:
                    in_flight = max(2, self.optimal_runs_at_once)
                envs = (self._check_feed(feed) for feed in feeds)
                return [[env[name] for name in wanted] for env in runner.run_pipelined(envs, in_flight)]
            from concurrent.futures import ThreadPoolExecutor

            threads = 2 if in_flight is None else max(1, in_flight)
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ovaot-run") as pool:
                return list(pool.map(lambda feed: self.run(wanted, feed), feeds))

    def close(self) -> None:
        """Free the compiled models and infer requests, once the runs in flight are done; the package's memory
        map goes with the last of them. A closed Session refuses to run; closing twice does nothing."""
        if self._lifetime.close():
            for runner in self._runners:
                runner.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


__all__ = ["IOInfo", "Placement", "Plan", "Session"]
