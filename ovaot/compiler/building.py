"""Building a plan: each partition's artifacts (fallback ONNX, or IR and exported blobs), checked as shipped.

The build step may refuse nodes (OpenVINO cannot convert or compile their partition, or validation finds it
computes them wrongly). A refusal is a value, and PlanBuilder runs the fixpoint: refused nodes go to the
fallback, the plan is drafted again, until a build refuses nothing. A plan's blobs are exported as soon as its
partitions are generated (start), while the compiler goes on with other work, and collected in finish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import onnx
import openvino as ov
from onnx import ModelProto

from ovaot.codegen.export_worker import Exported, Exporter, ExportJob
from ovaot.codegen.fallback import fallback_artifact
from ovaot.codegen.openvino import convert_partition, lost_outputs, passthrough_outputs, save_ir, with_stable_names
from ovaot.compiler.capability import Support, device_present
from ovaot.compiler.graph import GraphIndex
from ovaot.compiler.input_shapes import bounded_partial_shapes
from ovaot.compiler.options import CompileOptions
from ovaot.compiler.partition import NodeGroup
from ovaot.compiler.planning import FALLBACK, Draft, PlanSpec, draft
from ovaot.compiler.quantization import Quantizer, WeightCompressor, rewrote
from ovaot.compiler.round_trip import blob_samples, diverging_nodes
from ovaot.compiler.save_temps import SaveTemps
from ovaot.compiler.stages import stage
from ovaot.compiler.validation import failing_nodes, mismatch, reference_values, shipped
from ovaot.engines.ports import port_binding
from ovaot.errors import CompileError
from ovaot.format.manifest import (
    BlobCheckResult,
    BlobCheckStatus,
    NodePlacement,
    Partition,
    PartitionKind,
    Plan,
    PlanMode,
    SupportSource,
)
from ovaot.format.package import BLOB_SUFFIX, MemberData
from ovaot.passes.weights import Stash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refusal:
    """Nodes the build step refused, each with why: they go to the fallback and the plan is drafted again."""

    nodes: dict[int, Support]

    @classmethod
    def of(cls, node_ids: list[int] | set[int], reason: str, source: SupportSource) -> Refusal:
        return cls({i: Support(False, reason, source) for i in node_ids})


@dataclass(frozen=True)
class BuildContext:
    """What every partition of every plan is built from."""

    model: ModelProto
    index: GraphIndex
    options: CompileOptions
    precision: str | None  # the target's inference precision ("f32", "f16") or None
    core: ov.Core
    converted: tuple[ov.Model, bool] | None  # the whole model as the capability query converted it
    reference: list[dict[str, Any]] | None  # validation's reference values, one dict per sample set
    scratch: Path  # where the IR and the blobs are written, until the package is
    temps: SaveTemps | None = None
    progress: Callable[[str], None] | None = None
    quantizer: Quantizer | None = None  # --quantize: NNCF on the calibration samples
    compressor: WeightCompressor | None = None  # --compress-weights
    # the model's large weights where they are set aside (while the likely plan starts): a subgraph extracted
    # from the model gets them from here
    aside: Stash | None = None

    def extract(self, node_ids: list[int], name: str) -> ModelProto:
        """A standalone model of the nodes (GraphIndex.extract), with the weights they read."""
        subgraph = self.index.extract(self.model, node_ids, name)[0]
        if self.aside is not None:
            self.aside.fill(subgraph)
        return subgraph


@dataclass
class _Pending:
    """A partition generated up to its blobs, which are exported for the whole plan at once."""

    partition: Partition  # without blobs and reported precisions
    node_ids: list[int]
    prefix: str  # of its members' names
    jobs: dict[str, ExportJob] = field(default_factory=dict)  # device -> job
    unchecked: str = ""  # why the blobs are not checked, where they are not


@dataclass
class _Generated:
    pending: list[_Pending]
    members: dict[str, MemberData]

    @property
    def jobs(self) -> list[tuple[_Pending, str, ExportJob]]:
        return [(p, device, job) for p in self.pending for device, job in p.jobs.items()]


class PlanBuilder:
    """Builds one plan to its fixpoint: start() drafts and generates it and hands its jobs to an exporter;
    finish() collects and validates the blobs, and starts again as long as the build refuses nodes.

    start() may be called again with other supports (the compiler starts the likely plan before the capability
    query answers): a partition already generated is not generated again, and jobs already submitted are not
    exported again, so the package's bytes are the same whichever way it went.
    """

    def __init__(
        self,
        spec: PlanSpec,
        context: BuildContext,
        configs: Mapping[str, dict[str, str]],
        supports: Mapping[str, list[Any]],
        new_exporter: Callable[[], Exporter],
        early: Callable[[str, MemberData], None] = lambda name, data: None,
    ) -> None:
        self.spec, self.context, self.configs, self.supports = spec, context, configs, supports
        self._new_exporter = new_exporter
        self._early = early  # handed each blob as it is exported, before it is checked
        self._refused: dict[int, Support] = {}
        self._generated: _Generated | None = None
        self._exporter: Exporter | None = None
        self._submitted: list[ExportJob] | None = None  # what the exporter in flight was given
        self.parts: dict[tuple[int, str, tuple[int, ...]], tuple[_Pending, dict[str, MemberData]]] = {}

    def start(self, supports: Mapping[str, list[Support]] | None = None) -> None:
        if supports is not None:
            self.supports = supports
        while True:
            outcome = _generate(draft(self.spec, self.context.index, self.supports, self._refused), self)
            if isinstance(outcome, _Generated):
                break
            self._refuse(outcome)
        self._generated = outcome
        jobs = [job for _, _, job in outcome.jobs]
        if self._exporter is not None and self._submitted == jobs:
            return  # already exporting exactly these
        if self._exporter is not None:
            self._exporter.close()
        self._exporter, self._submitted = self._new_exporter(), jobs
        self._exporter.submit(jobs)

    def rebase(self, context: BuildContext | None) -> None:
        """Go on with another context (the model after shape inference and the passes): the partitions generated
        and the export started carry over where the plan stays the same. None lets go of the model the plan
        was started on (and of its memory) until then."""
        self.context = context  # type: ignore[assignment]

    @property
    def members(self) -> dict[str, MemberData]:
        """The plan's members made so far: its IR and fallback models once started, its blobs once finished."""
        return self._generated.members if self._generated is not None else {}

    def finish(self) -> tuple[Plan, dict[str, MemberData]]:
        assert self._generated is not None and self._exporter is not None, "start() first"
        while True:
            with stage("wait for the export worker"):
                jobs = self._generated.jobs
                for number, blob in self._exporter.exported():  # the package takes each blob while it is checked
                    pending, device, _ = jobs[number]
                    self._early(_blob_name(pending, device), blob)
                exported = self._exporter.collect()
            outcome = _complete(self._generated, exported, self)
            if not isinstance(outcome, Refusal):
                spec = self.spec
                return Plan(spec.name, spec.mode, spec.devices, outcome), self._generated.members
            self._refuse(outcome)
            self._submitted = None  # collected: the next start() hands its jobs to a fresh exporter
            self.start()

    def close(self) -> None:
        if self._exporter is not None:
            self._exporter.close()

    def _refuse(self, refusal: Refusal) -> None:
        log.info("%s: %d nodes refused; partitioning again", self.spec.name, len(refusal.nodes))
        self._refused.update(refusal.nodes)


def _generate(plan: Draft, builder: PlanBuilder) -> _Generated | Refusal:
    """Every partition's artifacts but the blobs, or the nodes whose partition OpenVINO cannot build."""
    pending, members = [], {}
    for number, group in enumerate(plan.groups):
        if builder.context.progress is not None:
            count = len(group.node_ids)
            builder.context.progress(
                f"{plan.spec.name}: partition {number + 1}/{len(plan.groups)} ({group.label}, {count} nodes)"
            )
        key = (number, group.label, group.node_ids)
        if key not in builder.parts:
            generated: dict[str, MemberData] = {}
            outcome = _partition(plan, number, group, builder, generated)
            if isinstance(outcome, Refusal):
                return outcome
            builder.parts[key] = (outcome, generated)
        part, generated = builder.parts[key]
        nodes = [_placement(builder.context.index, i, plan.decided[i][1]) for i in part.node_ids]  # this draft's why
        pending.append(replace(part, partition=replace(part.partition, nodes=nodes)))
        members.update(generated)
    return _Generated(pending, members)


def _partition(
    plan: Draft, number: int, group: NodeGroup, builder: PlanBuilder, members: dict[str, MemberData]
) -> _Pending | Refusal:
    context, spec = builder.context, plan.spec
    prefix = f"{spec.name}/{number:03d}-{group.label}"
    node_ids = list(group.node_ids)
    name = f"{spec.name}_partition_{number}"
    consumes, produces = context.index.boundary(node_ids)
    whole = _whole_model(context, node_ids, consumes, produces) if group.label != FALLBACK else None
    # the standalone subgraph copies the weights it reads: made only where something reads it
    needed = whole is None or context.temps is not None
    with stage("subgraph extraction"):
        subgraph = context.extract(node_ids, name) if needed else None
    nodes = [_placement(context.index, i, plan.decided[i][1]) for i in node_ids]
    if context.temps is not None:
        context.temps.partition(spec.name, number, group.label, subgraph)
    log.info("%s partition %d: %s, %d nodes", spec.name, number, group.label, len(nodes))
    if group.label == FALLBACK:
        members[f"{prefix}/model.onnx"] = fallback_artifact(subgraph)
        artifacts = {"onnx": f"{prefix}/model.onnx"}
        return _Pending(
            Partition(number, PartitionKind.FALLBACK, [], consumes, produces, nodes, artifacts), node_ids, prefix
        )
    try:
        with stage("conversion"):
            ov_model = (
                with_stable_names(whole, name) if whole is not None else convert_partition(context.core, subgraph)
            )
    except CompileError as exc:
        return Refusal.of(node_ids, f"OpenVINO cannot build its partition: {exc}", SupportSource.CONVERSION)
    _bound_dimensions(ov_model, context.index)
    passthrough = passthrough_outputs(ov_model, consumes)
    if passthrough:
        reason = f"OpenVINO passes an input straight through to {', '.join(passthrough)} and loses its name"
        producers = {context.index.producer[n] for n in passthrough if n in context.index.producer}
        return Refusal.of(producers or node_ids, reason, SupportSource.CONVERSION)
    lost = lost_outputs(ov_model, produces)
    if lost:
        return Refusal.of(
            node_ids, f"OpenVINO's conversion loses the output tensors {', '.join(lost)}", SupportSource.CONVERSION
        )
    # tensor names are intact before export; an imported blob may have lost some
    input_ports = port_binding([p.output(0).get_names() for p in ov_model.get_parameters()], consumes)
    quantization: dict[str, Any] = {}
    with stage("quantization"):
        if context.quantizer is not None:
            ov_model, quantization = context.quantizer.quantize(ov_model, input_ports)
        elif context.compressor is not None:
            ov_model, quantization = context.compressor.compress(ov_model)
        if rewrote(quantization):
            ov_model = with_stable_names(ov_model, name)  # NNCF's new ops numbered like the rest
    with stage("IR write"):
        xml, weights = save_ir(ov_model, context.precision == "f16", context.scratch)
    run_on = spec.devices if spec.mode == PlanMode.MULTI else [group.label]
    present = [d for d in run_on if device_present(context.core, d) and d != "AUTO"]
    with stage("blob-check samples"):
        samples, unchecked = _check_samples(context, node_ids, ov_model, input_ports)
    jobs = {device: ExportJob(xml, weights, device, builder.configs[device], samples) for device in present}
    artifacts = {}
    if context.options.portable_ir or set(jobs) != set(run_on):
        artifacts = {"ir_xml": f"{prefix}/model.xml", "ir_bin": f"{prefix}/model.bin"}
        members.update({artifacts["ir_xml"]: xml, artifacts["ir_bin"]: weights})
    partition = Partition(
        number,
        PartitionKind.OPENVINO,
        run_on,
        consumes,
        produces,
        nodes,
        artifacts,
        compile_config=builder.configs[run_on[0]],
        requested_precision=context.precision,
        input_ports=input_ports,
        quantization=quantization,
    )
    return _Pending(partition, node_ids, prefix, jobs, unchecked)


def _bound_dimensions(ov_model: ov.Model, index: GraphIndex) -> None:
    """Give OpenVINO the bounds of --input-shape's lo..hi dimensions (the ONNX model names them "lo..hi")."""
    bounded = bounded_partial_shapes(ov_model.get_parameters(), index.value_types)
    if bounded:
        shapes = {
            i: ov.PartialShape([ov.Dimension(*d) if isinstance(d, tuple) else d for d in dims])
            for i, dims in bounded.items()
        }
        ov_model.reshape({ov_model.inputs[i]: shape for i, shape in shapes.items()})


def _check_samples(
    context: BuildContext, node_ids: list[int], ov_model: ov.Model, input_ports: list[str]
) -> tuple[tuple | None, str]:
    """The blob check's sample sets for a partition, or why it is not checked.

    OpenVINO can crash on random values where an input sets a shape, a block size or padding (Col2Im's pads:
    SIGSEGV). The export worker survives that (exporter: a fresh worker exports again, unchecked); a check in
    this process (reproducible=False) must not risk it: unless every input is a float read as data, the sample
    is kept only where onnx.reference runs the partition on it.
    """
    if not context.options.check_blobs:
        return None, ""
    random = sorted({context.index.nodes[i].op_type for i in node_ids} & _RANDOM_OPS)
    if random:
        return None, f"the partition draws random numbers ({', '.join(random)}): two runs differ by design"
    samples = blob_samples(ov_model)
    if samples is None:
        return None, "a parameter has a dynamic rank or a type numpy lacks"
    if context.options.reproducible or _read_as_float_data(context.index, node_ids, input_ports):
        return samples, ""
    subgraph = context.extract(node_ids, "blob_check_partition")
    runnable = tuple(s for s in samples if reference_values(subgraph, dict(zip(input_ports, s))) is not None)
    if not runnable:
        return None, "onnx.reference cannot run the partition on a seeded sample, so OpenVINO is not run on it here"
    return runnable, ""


def _read_as_float_data(index: GraphIndex, node_ids: list[int], inputs: list[str]) -> bool:
    """Whether every one of `inputs` is a float tensor that the partition's nodes read only as their first
    input (data, not a shape, an index or a count)."""
    members = set(node_ids)
    for name in inputs:
        value_type = index.value_types.get(name)
        if value_type is None or value_type.tensor_type.elem_type not in _FLOAT_TYPES:
            return False
        for i in members:
            node = index.nodes[i]
            if name in node.input[1:] or (name not in node.input and name in index.inputs_of[i]):
                return False
    return True


_RANDOM_OPS = frozenset(
    {"Bernoulli", "Multinomial", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike"}
)
_FLOAT_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16)


def _whole_model(
    context: BuildContext, node_ids: list[int], consumes: list[str], produces: list[str]
) -> ov.Model | None:
    """The capability query's conversion, when the partition is the whole model (numbered by with_stable_names
    as convert_partition would number it, the IR is the same bytes); else None."""
    whole = context.converted[0] if context.converted is not None and not context.converted[1] else None
    if whole is None or len(node_ids) != len(context.index.nodes):
        return None
    parameters = [p.output(0).get_names() for p in whole.get_parameters()]
    same_inputs = len(parameters) == len(consumes) and all(names & set(consumes) for names in parameters)
    return whole if same_inputs and len(whole.outputs) == len(produces) else None


def _complete(generated: _Generated, results: list[Exported], builder: PlanBuilder) -> list[Partition] | Refusal:
    """The plan's partitions with their blobs, each checked as it ships; or the nodes refused on the way."""
    jobs = generated.jobs
    for (p, _, _), result in zip(jobs, results):
        if result.error:
            return Refusal.of(
                p.node_ids, f"OpenVINO cannot build its partition: {result.error}", SupportSource.CONVERSION
            )
    if len(results) != len(jobs):
        raise CompileError(f"the export returned {len(results)} blobs for {len(jobs)} jobs")
    partitions = []
    for p in generated.pending:
        exported = {device: result for (q, device, _), result in zip(jobs, results) if q is p}
        checks = {
            device: _check_result(e, builder.context.options.check_blobs, p.unchecked) for device, e in exported.items()
        }
        failed = [device for device, check in checks.items() if check.status == BlobCheckStatus.FAILED]
        if failed:
            outcome = _narrow_failed_check(p, failed[0], checks[failed[0]], builder)
            if isinstance(outcome, Refusal):
                return outcome
            checks.update({device: outcome for device in failed})
        shipped_blobs = {device: e for device, e in exported.items() if device not in failed}
        if exported and builder.context.reference is not None:
            device = next(iter(exported))
            with stage("validation"):
                as_shipped = _as_shipped(p, device, shipped_blobs, builder)
                refusal = _validate(p, as_shipped, builder.configs[device], builder)
            if refusal is not None:
                return refusal
        blobs = {device: _blob_name(p, device) for device in shipped_blobs}
        generated.members.update({blobs[device]: e.blob for device, e in shipped_blobs.items()})
        artifacts = dict(p.partition.artifacts)
        if failed and "ir_xml" not in artifacts:  # the loader compiles the IR where the blob is not shipped
            job = p.jobs[failed[0]]
            artifacts = {"ir_xml": f"{p.prefix}/model.xml", "ir_bin": f"{p.prefix}/model.bin"}
            generated.members.update({artifacts["ir_xml"]: job.xml, artifacts["ir_bin"]: job.weights})
        partitions.append(
            replace(
                p.partition,
                artifacts=artifacts,
                blobs=blobs,
                reported_precision={device: e.precision for device, e in exported.items()},
                blob_built_with={device: _build_host(builder.context.core, device) for device in shipped_blobs},
                blob_checks=checks,
            )
        )
    return partitions


def _blob_name(p: _Pending, device: str) -> str:
    return f"{p.prefix}/{device}{BLOB_SUFFIX}"


def _check_result(exported: Exported, enabled: bool, unchecked: str) -> BlobCheckResult:
    if not enabled:
        return BlobCheckResult(BlobCheckStatus.OFF, "compiled with --no-check")
    if exported.check is None:
        return BlobCheckResult(BlobCheckStatus.NOT_RUN, unchecked or "no sample set")
    return BlobCheckResult(exported.check["status"], exported.check["detail"])


def _narrow_failed_check(
    p: _Pending, device: str, check: BlobCheckResult, builder: PlanBuilder
) -> BlobCheckResult | Refusal:
    """A blob that differs once imported: the nodes to blame, and either the IR compiled at load (the compiled
    model is right) or the fallback for the nodes whose compiled model is wrong too."""
    context = builder.context
    version = ov.get_version().split("-")[0]
    with stage("blob-check narrowing"):
        found = diverging_nodes(context.core, context.model, context.index, p.node_ids, device, builder.configs[device])
    wrong = {i: d for i, d in found.items() if d.compiled_is_right is False}
    if wrong:
        return Refusal(
            {
                i: Support(
                    False,
                    f"OpenVINO {version} computes it wrong, compiled ({d.how}) and against onnx.reference",
                    SupportSource.BLOB_CHECK,
                )
                for i, d in wrong.items()
            }
        )
    blamed = ", ".join(f"{context.index.nodes[i].op_type} {context.index.nodes[i].name!r}" for i in found)
    culprit = f"; alone, {blamed} shows it" if found else ""
    log.warning("%s: the %s blob differs once imported; the IR is compiled at load instead", p.prefix, device)
    return BlobCheckResult(
        BlobCheckStatus.FAILED,
        f"OpenVINO {version}: {check.detail}{culprit}; not shipped, the IR is compiled at load",
    )


def _as_shipped(p: _Pending, device: str, blobs: dict[str, Exported], builder: PlanBuilder) -> ov.CompiledModel:
    """The partition as the loader will run it on `device`: its blob imported, or its IR compiled where the
    blob is not shipped."""
    config = builder.configs[device]
    if device in blobs:
        blob = blobs[device].blob
        assert blob is not None
        return shipped(builder.context.core, blob.read_bytes(), device, config)
    job = p.jobs[device]
    core = builder.context.core
    return core.compile_model(core.read_model(str(job.xml), str(job.weights)), device, config)


def _validate(p: _Pending, as_shipped: ov.CompiledModel, config: dict, builder: PlanBuilder) -> Refusal | None:
    """Run the partition as it ships on each sample set; refuse what differs."""
    context = builder.context
    assert context.reference is not None
    consumes, produces, ports = p.partition.consumes, p.partition.produces, p.partition.input_ports
    quantized = rewrote(p.partition.quantization)
    for values in context.reference:
        reason = mismatch(as_shipped, consumes, produces, values, ports, quantized)
        if reason:
            break
    else:
        return None
    failures = failing_nodes(context.core, context.model, context.index, p.node_ids, values, config)
    if not failures:  # no node fails alone: the partition as a whole is refuted
        failures = {i: f"its partition differs from onnx.reference ({reason})" for i in p.node_ids}
    return Refusal(
        {
            i: Support(False, f"validation on sample inputs: {why}", SupportSource.VALIDATION)
            for i, why in failures.items()
        }
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
