"""The compiler pipeline: load -> normalise -> capability -> partition -> codegen -> package."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import openvino as ov
from onnx import ModelProto

from ovaot import frontend, samples
from ovaot.capability import (
    Support,
    apply_overrides,
    convert,
    device_capability,
    device_present,
    read_capabilities,
)
from ovaot.codegen.export_worker import Exported, ExportJob, ExportWorker
from ovaot.codegen.fallback import fallback_artifact
from ovaot.codegen.openvino import (
    convert_partition,
    device_config,
    export_blob,
    lost_outputs,
    passthrough_outputs,
    save_ir,
    with_stable_names,
)
from ovaot.errors import CompileError, OvaotError
from ovaot.graph import GraphIndex
from ovaot.inspection import summary
from ovaot.loader.openvino_runner import port_binding
from ovaot.manifest import SCHEMA_VERSION, Manifest, NodePlacement, Partition, Plan
from ovaot.options import ProviderOptions, keyword_parameters
from ovaot.package import PackageReader, describe_members, write_package
from ovaot.partition import NodeGroup, partition
from ovaot.passes import OptLevel, Pass, PassConfig, run_passes, select_passes
from ovaot.passes.manager import StepHook
from ovaot.passes.registry import optimisation_passes
from ovaot.passes.verify import PassVerifier
from ovaot.targets import Target, parse_target
from ovaot.temps import SaveTemps
from ovaot.typeinfo import value_info
from ovaot.validation import failing_nodes, mismatch, reference_values, shipped
from ovaot.version import __version__

log = logging.getLogger(__name__)

FALLBACK = "fallback"
HOST_DEVICE = "CPU"
DEFAULT_OPT_LEVEL = OptLevel.disable_all  # chosen from artifacts/passes.md; see README


@dataclass(frozen=True)
class CompileOptions:
    """Everything besides the model that decides what a package holds."""

    target: Target
    force_fallback: tuple[str, ...] = ()
    capabilities: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)
    host_variant: bool = True
    provider: ProviderOptions = field(default_factory=ProviderOptions)
    passes: PassConfig = field(default_factory=PassConfig)
    verify_passes: bool = False
    save_temps: Path | None = None
    validate: bool = False
    sample_inputs: Mapping[str, Any] | None = None
    reproducible: bool = True
    validate_edge_values: bool = False
    portable_ir: bool = True

    def to_manifest(self) -> dict[str, Any]:
        return {
            **self.passes.to_manifest(),
            "verify_passes": self.verify_passes,
            "validate": self.validate,
            "validate_edge_values": self.validate_edge_values,
            "force_fallback": sorted(self.force_fallback),
            "capabilities": {d: dict(sorted(ops.items())) for d, ops in sorted(self.capabilities.items())},
            "host_variant": self.host_variant,
            "portable_ir": self.portable_ir,
            "provider_options": self.provider.to_manifest(),
        }


@dataclass(frozen=True)
class CompileResult:
    output: Path
    manifest: Manifest
    up_to_date: bool = False  # True: the package was already built from the same input and options

    def summary(self) -> str:
        if self.up_to_date:
            return f"up to date: {self.output}"
        return f"wrote {self.output} {summary(self.manifest)}"


def compile(
    model: str | os.PathLike | ModelProto,
    target: str | Target,
    output: str | os.PathLike,
    *,
    force_fallback: Sequence[str] = (),
    capabilities: Mapping[str, Mapping[str, bool]] | str | os.PathLike | None = None,
    host_variant: bool = True,
    opt_level: str | int | OptLevel = DEFAULT_OPT_LEVEL,
    enable_passes: Sequence[str] = (),
    disable_passes: Sequence[str] = (),
    fold_limit_bytes: int = 1 << 20,
    verify_passes: bool = False,
    save_temps: str | os.PathLike | None = None,
    validate: bool = False,
    sample_inputs: Mapping[str, Any] | None = None,
    validate_edge_values: bool = False,
    reproducible: bool = True,
    portable_ir: bool = True,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    sign: Any = None,
    **provider_options: Any,
) -> CompileResult:
    """Compile an ONNX model for a target into one .ovpkg file at `output`.

    opt_level is onnxruntime's level (disable_all, basic, extended, all or 0-3); enable_passes and
    disable_passes switch single passes (`ovaot passes` lists them). portable_ir=False leaves out the
    OpenVINO IR of partitions that have a blob for every device (weights stored once: the smallest
    package, but a blob the host cannot import is then an error rather than a compile of the IR).
    provider_options are the OpenVINO Execution Provider's keys (device_id, num_of_threads,
    enable_vpu_fast_compile) and num_streams / performance_hint (LATENCY, THROUGHPUT,
    CUMULATIVE_THROUGHPUT), which go into the blobs and can be overridden at load time.
    """
    provider = ProviderOptions.parse(provider_options, parameters=keyword_parameters(compile))
    parsed = parse_target(target) if isinstance(target, str) else target
    if provider.device_id:
        parsed = parsed.with_device_id(provider.device_id)
    if capabilities is not None and not isinstance(capabilities, Mapping):
        capabilities = read_capabilities(capabilities)
    options = CompileOptions(
        target=parsed,
        force_fallback=tuple(dict.fromkeys(force_fallback)),
        capabilities=capabilities or {},
        host_variant=host_variant,
        provider=provider,
        passes=PassConfig(
            level=OptLevel.parse(opt_level),
            enabled=tuple(dict.fromkeys(enable_passes)),
            disabled=tuple(dict.fromkeys(disable_passes)),
            fold_limit_bytes=fold_limit_bytes,
        ),
        verify_passes=verify_passes,
        save_temps=Path(save_temps) if save_temps is not None else None,
        validate=validate or validate_edge_values,
        sample_inputs=sample_inputs,
        validate_edge_values=validate_edge_values,
        reproducible=reproducible,
        portable_ir=portable_ir,
    )
    passes = select_passes(optimisation_passes(fold_limit_bytes), options.passes)
    digest = frontend.source_digest(model)
    rebuild = force or options.save_temps is not None or sign is not None
    existing = None if rebuild else _up_to_date(Path(output), digest, options)
    if existing is not None:
        log.info("%s is up to date", output)
        return CompileResult(output=Path(output), manifest=existing, up_to_date=True)
    temps = SaveTemps(options.save_temps) if options.save_temps is not None else None
    with _Exporter(options.reproducible) as exporter:  # a worker starts now, while the model is loaded
        loaded = frontend.load(model, digest)
        optimised, changed = run_passes(loaded.model, passes, _pass_hook(temps, options.verify_passes))
        log.info("passes that changed the model: %s", ", ".join(changed) or "none")
        # passes consume their input; frontend.load inferred the shapes of the model as it was
        loaded = replace(loaded, model=frontend.infer_shapes(optimised, loaded.source_name) if changed else optimised)
        manifest, members = build_package(loaded, options, exporter, temps, progress)
    if temps is not None:
        temps.manifest(manifest)
    write_package(output, manifest, members, signing_key=sign)
    result = CompileResult(output=Path(output), manifest=manifest)
    log.info("%s", result.summary())
    return result


def _up_to_date(output: Path, digest: str, options: CompileOptions) -> Manifest | None:
    """The manifest of `output` if it was built from the same input, target, options and tool versions."""
    if not output.is_file():
        return None
    try:
        with PackageReader(output) as reader:
            manifest = reader.manifest
            reader.verify()  # a damaged package is not up to date; hashing costs far less than compiling
    except OvaotError:
        return None  # unreadable, damaged or from another schema: rebuild
    same = (
        manifest.source_digest == digest
        and manifest.target == options.target.spec
        and manifest.options == json.loads(json.dumps(options.to_manifest()))
        and manifest.ovaot_version == __version__
        and manifest.openvino_version == ov.get_version()
    )
    return manifest if same else None


def _reference(model: ModelProto, options: CompileOptions) -> list[dict[str, Any]] | None:
    """Reference values of every tensor for each sample set, for --validate; None when none can be had.

    The sample inputs (given, or seeded from the signature), and with validate_edge_values the sets at the
    edges (samples.validation_sets), which catch kernels that differ only there.
    """
    makers = samples.validation_sets(model, options.sample_inputs, edges=options.validate_edge_values)
    sets = []
    for make in makers:
        try:
            values = reference_values(model, make())
        except (ValueError, TypeError) as exc:
            log.warning("validation: cannot make sample inputs (%s)", exc)
            continue
        if values is not None:
            sets.append(values)
    if not sets:
        log.warning("validation skipped: onnx.reference cannot run the model on any sample set")
    return sets or None


def _pass_hook(temps: SaveTemps | None, verify: bool) -> StepHook | None:
    hooks: list[StepHook] = []
    if temps is not None:
        hooks.append(temps.after_pass)
    if verify:
        hooks.append(PassVerifier())
    if not hooks:
        return None

    def after_each(step: int, p: Pass, before: ModelProto, after: ModelProto) -> None:
        for hook in hooks:
            hook(step, p, before, after)

    return after_each


def build_package(
    loaded: frontend.LoadedModel,
    options: CompileOptions,
    exporter: _Exporter,
    temps: SaveTemps | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Manifest, dict[str, bytes]]:
    core = ov.Core()
    target = options.target
    members: dict[str, bytes] = {}
    reference = _reference(loaded.model, options) if options.validate else None
    build = {
        "model": loaded.model,
        "options": options,
        "core": core,
        "members": members,
        "temps": temps,
        "reference": reference,
        "exporter": exporter,
        "progress": progress,
    }
    plans = [_build_plan("target", target.mode, list(target.devices), **build)]
    absent = [d for d in target.devices if not device_present(core, d)]
    if absent and options.host_variant:
        log.info("%s is not on this host: adding a %s host variant", ", ".join(absent), HOST_DEVICE)
        plans.append(_build_plan("host", "single", [HOST_DEVICE], **build))
    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        ovaot_version=__version__,
        openvino_version=ov.get_version(),
        source_digest=loaded.source_digest,
        source_name=loaded.source_name,
        target=target.spec,
        options=options.to_manifest(),
        inputs=[value_info(v) for v in loaded.model.graph.input],
        outputs=[value_info(v) for v in loaded.model.graph.output],
        plans=plans,
        members=describe_members(members),
    )
    return manifest, members


class _Exporter:
    """Compiles and exports the blobs of a plan.

    reproducible: in one fresh worker process per plan (export_worker), the same bytes whatever this process
    did before; one worker is started ahead. Otherwise in this process.

    speculate(job): the plan will most likely be one partition holding the whole model; its job goes to the
    worker at once, to compile while the capability query runs here. export() uses that result only when the
    plan's jobs turn out to be exactly that job, so the package bytes are the same either way.
    """

    def __init__(self, reproducible: bool) -> None:
        self.reproducible = reproducible
        self._ahead = ExportWorker() if reproducible else None
        self._speculation: tuple[ExportJob, ExportWorker] | None = None

    def __enter__(self) -> _Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in (self._ahead, self._speculation[1] if self._speculation else None):
            if worker is not None:
                worker.close()

    def _worker(self) -> ExportWorker:
        worker, self._ahead = self._ahead or ExportWorker(), None
        return worker

    def speculate(self, job: ExportJob) -> None:
        if self.reproducible and self._speculation is None:
            worker = self._worker()
            self._speculation = (job, worker)  # closed on exit whatever submit does
            worker.submit([job])

    def export(self, core: ov.Core, jobs: list[tuple[ExportJob, ov.Model]]) -> list[Exported]:
        """One result per job, in order, up to and including the first that OpenVINO refuses."""
        speculation, self._speculation = self._speculation, None
        if speculation is not None:
            if [job for job, _ in jobs] == [speculation[0]]:
                return speculation[1].collect()
            speculation[1].close()
        if not jobs:
            return []
        if self.reproducible:
            return self._worker().export([job for job, _ in jobs])
        results = []
        for job, ov_model in jobs:
            try:
                blob, precision = export_blob(core, ov_model, job.device, job.config)
            except CompileError as exc:
                results.append(Exported(error=str(exc)))
                break
            results.append(Exported(blob=blob, precision=precision))
        return results


def _label_nodes(mode: str, devices: list[str], supports: dict[str, list[Support]], count: int):
    """Each node's engine label and the Support that decided it.

    single/hetero: the first listed device that supports the node; multi: every device must.
    """
    for i in range(count):
        verdicts = [(d, supports[d][i]) for d in devices]
        if mode == "multi":
            failing = [(d, s) for d, s in verdicts if not s.ok]
            if not failing:
                yield "openvino", verdicts[0][1]
                continue
            verdicts = failing
        else:
            chosen = next(((d, s) for d, s in verdicts if s.ok), None)
            if chosen:
                yield chosen
                continue
        if len(verdicts) == 1:
            yield FALLBACK, verdicts[0][1]
        else:
            reason = "; ".join(f"{d}: {s.reason}" for d, s in verdicts)
            yield FALLBACK, Support(False, reason, verdicts[0][1].source)


class PartitionRejected(Exception):
    """OpenVINO cannot build, or validation refutes, some nodes of a partition: they go to the fallback."""

    def __init__(self, rejected: dict[int, Support]) -> None:
        super().__init__(f"{len(rejected)} nodes rejected")
        self.rejected = rejected


def _build_plan(
    name: str,
    mode: str,
    devices: list[str],
    *,
    model: ModelProto,
    options: CompileOptions,
    core: ov.Core,
    members: dict[str, bytes],
    temps: SaveTemps | None,
    reference: list[dict[str, Any]] | None,
    exporter: _Exporter,
    progress: Callable[[str], None] | None,
) -> Plan:
    """Label nodes, partition, generate; nodes OpenVINO rejects go to the fallback and the plan is redone."""
    index = GraphIndex.build(model)
    configs = {
        d: device_config(core if device_present(core, d) else None, d, options.target.precision, options.provider)
        for d in devices
    }
    refused = set(options.force_fallback) | {
        op for ops in options.capabilities.values() for op, ok in ops.items() if not ok
    }
    likely_whole = mode != "multi" and not refused & {node.op_type for node in index.nodes}
    fp16 = options.target.precision == "f16"
    converted, whole = _convert_whole(model, index, name, devices, core, fp16, likely_whole)
    if whole is not None:  # the likely plan: this job alone; the worker starts on it now
        exporter.speculate(ExportJob(*whole, devices[0], configs[devices[0]]))
    supports = {}
    for device in devices:
        capability = device_capability(core, device, configs[device])
        supports[device] = apply_overrides(
            capability.support(model, index, converted), index, device, options.capabilities, options.force_fallback
        )
    converted_model = converted[0] if converted is not None and not converted[1] else None
    rejected: dict[int, Support] = {}
    while True:
        decided = [
            (FALLBACK, rejected[i]) if i in rejected else choice
            for i, choice in enumerate(_label_nodes(mode, devices, supports, len(index.nodes)))
        ]
        groups = partition(index.users, [label for label, _ in decided])
        built: dict[str, bytes] = {}
        generate = _PlanCodegen(
            name, mode, devices, model, index, options, core, configs, built, temps, reference, converted_model, whole
        )
        try:
            pending = []
            for number, group in enumerate(groups):
                if progress is not None:
                    progress(
                        f"{name}: partition {number + 1}/{len(groups)} ({group.label}, {len(group.node_ids)} nodes)"
                    )
                pending.append(generate(number, group, decided))
            partitions = generate.complete(pending, exporter)
        except PartitionRejected as refusal:
            log.info("%s: %d nodes rejected by OpenVINO; partitioning again", name, len(refusal.rejected))
            rejected.update(refusal.rejected)
            converted_model = whole = None  # used for a partition that did not last; convert afresh
            continue
        members.update(built)
        return Plan(name=name, mode=mode, devices=devices, partitions=partitions)


def _convert_whole(
    model: ModelProto,
    index: GraphIndex,
    plan: str,
    devices: list[str],
    core: ov.Core,
    fp16: bool,
    likely_whole: bool,
) -> tuple[tuple[ov.Model, bool] | None, tuple[bytes, bytes] | None]:
    """The model converted once for every device's capability query (None where no device is queried), and,
    if the plan is likely one partition holding the whole model on the first device, that partition's IR
    (xml, bin), else None.

    The ops are numbered (with_stable_names) as that partition's would be, so the IR is the same bytes either way.
    """
    if not any(device_present(core, d) for d in devices):
        return None, None
    try:
        converted = convert(model.SerializeToString())
    except RuntimeError:
        return None, None  # the capability query asks node by node
    ov_model, partial = converted
    first = devices[0]
    if partial or not likely_whole or not device_present(core, first) or first == "AUTO" or not index.nodes:
        return converted, None
    with_stable_names(ov_model, f"{plan}_partition_0")
    return converted, save_ir(ov_model, compress_to_fp16=fp16)


@dataclass
class _Pending:
    """A partition generated up to its blobs, which are exported for the whole plan at once."""

    partition: Partition  # without blobs and reported precisions
    node_ids: list[int]
    prefix: str  # of its members' names
    jobs: dict[str, tuple[ExportJob, ov.Model | None]] = field(default_factory=dict)  # device -> job


@dataclass
class _PlanCodegen:
    """Generates the artifacts of the partitions of a plan into `built`."""

    plan: str
    mode: str
    devices: list[str]
    model: ModelProto
    index: GraphIndex
    options: CompileOptions
    core: ov.Core
    configs: dict[str, dict[str, str]]
    built: dict[str, bytes]
    temps: SaveTemps | None
    reference: list[dict[str, Any]] | None
    converted: ov.Model | None  # the whole model converted, reused when one partition holds all of it
    whole_ir: tuple[bytes, bytes] | None  # its IR (xml, bin), when already saved for the speculative export

    def __call__(self, number: int, group: NodeGroup, decided: list[tuple[str, Support]]) -> _Pending:
        prefix = f"{self.plan}/{number:03d}-{group.label}"
        node_ids = list(group.node_ids)
        subgraph, consumes, produces = self.index.extract(self.model, node_ids, f"{self.plan}_partition_{number}")
        nodes = [_placement(self.index, i, decided[i][1]) for i in node_ids]
        if self.temps is not None:
            self.temps.partition(self.plan, number, group.label, subgraph)
        log.info("%s partition %d: %s, %d nodes", self.plan, number, group.label, len(nodes))
        if group.label == FALLBACK:
            self.built[f"{prefix}/model.onnx"] = fallback_artifact(subgraph)
            artifacts = {"onnx": f"{prefix}/model.onnx"}
            return _Pending(Partition(number, "fallback", [], consumes, produces, nodes, artifacts), node_ids, prefix)
        run_on = self.devices if self.mode == "multi" else [group.label]
        precision = self.options.target.precision
        try:
            ov_model, ir = self._convert(subgraph, node_ids, consumes, produces)
        except CompileError as exc:
            reason = f"OpenVINO cannot build its partition: {exc}"
            raise PartitionRejected({i: Support(False, reason, "conversion") for i in node_ids}) from None
        passthrough = passthrough_outputs(ov_model, consumes)
        if passthrough:
            reason = f"OpenVINO passes an input straight through to {', '.join(passthrough)} and loses its name"
            rejected = {self.index.producer[n] for n in passthrough if n in self.index.producer}
            raise PartitionRejected({i: Support(False, reason, "conversion") for i in rejected or node_ids})
        lost = lost_outputs(ov_model, produces)
        if lost:
            reason = f"OpenVINO's conversion loses the output tensors {', '.join(lost)}"
            raise PartitionRejected({i: Support(False, reason, "conversion") for i in node_ids})
        # tensor names are intact before export; an imported blob may have lost some
        input_ports = port_binding([p.output(0).get_names() for p in ov_model.get_parameters()], consumes)
        xml, weights = ir or save_ir(ov_model, compress_to_fp16=precision == "f16")
        jobs = {
            device: (ExportJob(xml, weights, device, self.configs[device]), ov_model)
            for device in run_on
            if device_present(self.core, device) and device != "AUTO"
        }
        artifacts = {}
        if self.options.portable_ir or set(jobs) != set(run_on):
            artifacts = {"ir_xml": f"{prefix}/model.xml", "ir_bin": f"{prefix}/model.bin"}
            self.built.update({artifacts["ir_xml"]: xml, artifacts["ir_bin"]: weights})
        partition = Partition(
            number,
            "openvino",
            run_on,
            consumes,
            produces,
            nodes,
            artifacts,
            compile_config=self.configs[run_on[0]],
            requested_precision=precision,
            input_ports=input_ports,
        )
        return _Pending(partition, node_ids, prefix, jobs)

    def _convert(
        self, subgraph: ModelProto, node_ids: list[int], consumes: list[str], produces: list[str]
    ) -> tuple[ov.Model, tuple[bytes, bytes] | None]:
        """The partition as an OpenVINO model, and its IR if already saved: the capability query's conversion
        when the partition is the whole model."""
        whole, self.converted = self.converted, None
        if whole is not None and len(node_ids) == len(self.index.nodes):
            parameters = [p.output(0).get_names() for p in whole.get_parameters()]
            same_inputs = len(parameters) == len(consumes) and all(names & set(consumes) for names in parameters)
            if same_inputs and len(whole.outputs) == len(produces):
                # all the nodes: the plan's only partition, number 0, as _convert_whole named it
                return with_stable_names(whole, subgraph.graph.name), self.whole_ir
        return convert_partition(self.core, subgraph), None

    def complete(self, pending: list[_Pending], exporter: _Exporter) -> list[Partition]:
        """Export every blob of the plan, check each partition as it ships, and add the blobs."""
        jobs = [(p, device, job) for p in pending for device, job in p.jobs.items()]
        results = exporter.export(self.core, [job for _, _, job in jobs])
        for (p, _, _), result in zip(jobs, results):
            if result.error:
                reason = f"OpenVINO cannot build its partition: {result.error}"
                raise PartitionRejected({i: Support(False, reason, "conversion") for i in p.node_ids})
        if len(results) != len(jobs):
            raise CompileError(f"the export returned {len(results)} blobs for {len(jobs)} jobs")
        partitions = []
        for p in pending:
            exported = {device: result for (q, device, _), result in zip(jobs, results) if q is p}
            self._validate(p, {device: e.blob for device, e in exported.items()})
            blobs = {device: f"{p.prefix}/{device}.blob" for device in exported}
            self.built.update({blobs[device]: e.blob for device, e in exported.items()})
            partitions.append(
                replace(
                    p.partition,
                    blobs=blobs,
                    reported_precision={device: e.precision for device, e in exported.items()},
                    blob_built_with={device: _build_host(self.core, device) for device in exported},
                )
            )
        return partitions

    def _validate(self, p: _Pending, exported: dict[str, bytes]) -> None:
        """Run the partition as it ships (its blob, imported) on each sample set; refute what differs."""
        if self.reference is None or not exported:
            return
        consumes, produces, ports = p.partition.consumes, p.partition.produces, p.partition.input_ports
        device, blob = next(iter(exported.items()))
        as_shipped = shipped(self.core, blob, device, self.configs[device])
        for values in self.reference:
            reason = mismatch(as_shipped, consumes, produces, values, ports)
            if reason:
                break
        else:
            return
        config = self.configs[device]
        failures = failing_nodes(self.core, self.model, self.index, p.node_ids, values, config)
        if not failures:  # no node fails alone: the partition as a whole is refuted
            failures = {i: f"its partition differs from onnx.reference ({reason})" for i in p.node_ids}
        raise PartitionRejected(
            {i: Support(False, f"validation on sample inputs: {why}", "validation") for i, why in failures.items()}
        )


def _build_host(core: ov.Core, device: str) -> dict[str, str]:
    """What a blob is tied to: the OpenVINO version and the device it was compiled on."""
    info = {"openvino_version": ov.get_version()}
    for key, prop in (("device_architecture", "DEVICE_ARCHITECTURE"), ("device_name", "FULL_DEVICE_NAME")):
        try:
            info[key] = str(core.get_property(device, prop))
        except RuntimeError:
            info[key] = "unknown"
    return info


def _placement(index: GraphIndex, node_id: int, support: Support) -> NodePlacement:
    node = index.nodes[node_id]
    return NodePlacement(node.name, node.op_type, node.domain, support.reason, support.source)


__all__ = ["CompileOptions", "CompileResult", "compile"]
