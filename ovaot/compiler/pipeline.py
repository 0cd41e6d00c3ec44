"""compile(): load and check the model, run the passes, plan, build each plan, and write the package."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import openvino as ov
from onnx import ModelProto

from ovaot.cli.inspection import summary
from ovaot.codegen.export_worker import Exporter, ExportWorker, exporter
from ovaot.codegen.openvino import device_config
from ovaot.compiler import frontend, samples
from ovaot.compiler.building import BuildContext, PlanBuilder
from ovaot.compiler.capability import Support, device_present
from ovaot.compiler.graph import GraphIndex
from ovaot.compiler.options import CompileOptions
from ovaot.compiler.planning import PlanSpec, convert_whole, query_support
from ovaot.compiler.quantization import Quantizer, WeightCompressor, load_samples
from ovaot.compiler.save_temps import SaveTemps
from ovaot.compiler.scratch import room_for, scratch_folder
from ovaot.compiler.stages import recording, report, stage
from ovaot.compiler.validation import reference_values
from ovaot.compiler.value_info import value_info
from ovaot.defect_table import known_defects
from ovaot.errors import OvaotError
from ovaot.format.manifest import SCHEMA_VERSION, Manifest, PlanMode, PlanName, SupportSource
from ovaot.format.package import BLOB_SUFFIX, MemberData, PackageReader
from ovaot.format.package_writer import PackageWriter, package_order
from ovaot.passes import Pass, run_passes, select_passes
from ovaot.passes.manager import StepHook
from ovaot.passes.registry import optimisation_passes
from ovaot.passes.verification import PassVerifier
from ovaot.passes.weights import Stash, set_weights_aside
from ovaot.targets import Target, parse_target
from ovaot.version import __version__

log = logging.getLogger(__name__)

HOST_DEVICE = "CPU"


@dataclass(frozen=True)
class CompileResult:
    output: Path
    manifest: Manifest
    up_to_date: bool = False  # True: the package was already built from the same input and options
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per stage, and "total"

    def summary(self) -> str:
        if self.up_to_date:
            return f"up to date: {self.output}"
        return f"wrote {self.output} {summary(self.manifest)}"


def compile(
    model: str | os.PathLike | ModelProto,
    target: str | Target,
    output: str | os.PathLike,
    options: CompileOptions | None = None,
    *,
    force: bool = False,
    sign: Any = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
) -> CompileResult:
    """Compile an ONNX model for a target into one .ovpkg file at `output`.

    `options` (a CompileOptions) with `overrides` (its field names, or the OpenVINO EP options: device_id,
    num_of_threads, num_streams, performance_hint, enable_vpu_fast_compile) say what the package holds.
    force rebuilds a package that is up to date; sign is an Ed25519 private key (PEM) to sign the manifest
    with; progress receives a line per partition.
    """
    with recording() as times:
        start = time.perf_counter()
        result = _compile(model, target, output, CompileOptions.of(options, **overrides), force, sign, progress)
        total = time.perf_counter() - start
    log.info("%s", result.summary())
    log.debug("where the time went:\n%s", report(times.seconds, total))
    return replace(result, stage_seconds={**times.seconds, "total": total})


def _compile(
    model: str | os.PathLike | ModelProto,
    target: str | Target,
    output: str | os.PathLike,
    options: CompileOptions,
    force: bool,
    sign: Any,
    progress: Callable[[str], None] | None,
) -> CompileResult:
    parsed = parse_target(target) if isinstance(target, str) else target
    if options.provider.device_id:
        parsed = parsed.with_device_id(options.provider.device_id)
    passes = select_passes(optimisation_passes(options.fold_limit_bytes), options.passes)
    temps = SaveTemps(options.save_temps) if options.save_temps is not None else None
    with _Exporters(options.reproducible, room_for(_size_of(model))) as exporters:  # a worker starts now
        rebuild = force or options.save_temps is not None or sign is not None
        digest = None  # with no package to compare with, the model is hashed while it is read
        if not rebuild and Path(output).exists():
            with stage("source hash"):
                digest = frontend.source_digest(model)
            with stage("up-to-date check"):
                existing = _up_to_date(Path(output), digest, parsed, options)
            if existing is not None:
                return CompileResult(output=Path(output), manifest=existing, up_to_date=True)
        writer = PackageWriter(output)  # members are written as they are made; the package replaces output
        build = PackageBuild(parsed, options, exporters, temps, progress, writer)
        try:
            static_for = parsed.spec if parsed.static_shapes else None
            loaded = frontend.read_checked(model, digest, options.input_shapes, static_for)
            # the large weights leave the model once for what follows (reading a model file leaves them out): the
            # conversion writes them out, the likely plan's start fills the subgraphs it extracts from them, shape
            # inference runs without them and puts them into the model it returns
            with stage("weights aside"):  # all of them, or those normalising made (from Constant nodes)
                aside, loaded.aside = set_weights_aside(loaded.model, into=loaded.aside), None
            build.start(loaded, aside)  # the likely plan exports while shapes are inferred and the passes run
            with stage("shape inference"):
                loaded.model = frontend.infer_shapes(loaded.model, loaded.source_name, aside)
            before = _op_types(loaded.model)
            with stage("passes"):
                optimised, changed = run_passes(loaded.model, passes, _pass_hook(temps, options.verify_passes))
            log.info("passes that changed the model: %s", ", ".join(changed) or "none")
            # passes consume their input; the shapes inferred were those of the model before them
            if changed:
                with stage("shape inference"):
                    optimised = frontend.infer_shapes(optimised, loaded.source_name)
            loaded = replace(loaded, model=optimised)
            manifest, members = build.finish(loaded, bool(changed))
            manifest = replace(manifest, rewrites=changed, lowered=_lowered(before, loaded.model))
            if temps is not None:
                temps.manifest(manifest)
            with stage("package write"):  # before the exporters' folder, which holds the IR and blobs, goes
                writer.finish(manifest, members, signing_key=sign)
        except BaseException:
            writer.abandon()
            raise
        finally:
            build.close()
    return CompileResult(output=Path(output), manifest=manifest)


def _op_types(model: ModelProto) -> set[str]:
    return {f"{n.domain}.{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type for n in model.graph.node}


def _lowered(before: set[str], model: ModelProto) -> list[str]:
    """The ops of other domains (ai.onnx.ml, com.microsoft) that the passes rewrote away entirely."""
    return sorted(op for op in before - _op_types(model) if "." in op)


class PackageBuild:
    """The target plan and, where its devices are absent here, the CPU host variant, built into members and a
    manifest.

    start() takes the model as read and normalised: it is converted once (the capability query, the IR and the
    export use that conversion) and, where the capability query's answer is likely known (the whole model on a
    device that is here), the target plan's export starts at once, while shapes are inferred and the passes
    run. finish() takes the model the passes left: if they changed it, it is converted again and what was
    started is dropped. Each plan's blobs are exported while the next plan is built; the `writer` is handed
    each member as soon as it is made (in package_order), so that the package is written meanwhile.
    """

    def __init__(
        self,
        target: Target,
        options: CompileOptions,
        exporters: _Exporters,
        temps: SaveTemps | None,
        progress: Callable[[str], None] | None,
        writer: PackageWriter,
    ) -> None:
        self.target, self.options, self.exporters = target, options, exporters
        self.temps, self.progress, self.writer = temps, progress, writer
        self.core = ov.Core()
        self.specs = [PlanSpec(PlanName.TARGET, target.mode, list(target.devices))]
        absent = [d for d in target.devices if not device_present(self.core, d)]
        if absent and options.host_variant:
            log.info("%s is not on this host: adding a %s host variant", ", ".join(absent), HOST_DEVICE)
            self.specs.append(PlanSpec(PlanName.HOST, PlanMode.SINGLE, [HOST_DEVICE]))
        self.devices = sorted({d for spec in self.specs for d in spec.devices})
        with stage("device properties"):
            self.configs = {
                d: device_config(
                    self.core if device_present(self.core, d) else None, d, target.precision, options.provider
                )
                for d in self.devices
            }
        self.converted: tuple[ov.Model, bool] | None = None
        self._started: PlanBuilder | None = None  # the target plan, started on the likely capability

    def start(self, loaded: frontend.LoadedModel, aside: Stash) -> None:
        """`aside`: the model's large weights, set aside (they stay aside)."""
        model = loaded.model
        with stage("conversion"):
            self.converted = convert_whole(model, self.devices, self.core, self.exporters.folder, aside)
        if self.options.quantize or self.options.compress_weights:
            return  # their calibration and compression work on the model as it ships
        with stage("graph index"):
            index = GraphIndex.build(model)
        likely = _likely_support(self.specs[0], index, self.core, self.converted, self.options, self.temps)
        if likely is None:
            return
        context = replace(self._context(model, index), aside=aside)
        builder = PlanBuilder(self.specs[0], context, self.configs, {}, self.exporters.next, self.writer.add)
        with stage("partition build"):
            builder.start(likely)
        _hand_over(builder.members, self.writer)
        builder.rebase(None)  # the model as read goes once its shapes are inferred
        self._started = builder

    def finish(self, loaded: frontend.LoadedModel, changed: bool) -> tuple[Manifest, dict[str, MemberData]]:
        model = loaded.model
        if changed:  # what start() converted and exported is not the model that ships
            if self._started is not None:
                self._started.close()
                self._started = None
            with stage("conversion"):
                self.converted = convert_whole(model, self.devices, self.core, self.exporters.folder)
        with stage("graph index"):
            index = GraphIndex.build(model)
        with stage("validation"):
            reference = _reference(model, self.options) if self.options.validate else None
        context = self._context(model, index, reference)
        builders = [
            PlanBuilder(spec, context, self.configs, {}, self.exporters.next, self.writer.add) for spec in self.specs
        ]
        if self._started is not None:
            builders[0], self._started = self._started, None
            builders[0].rebase(context)
        try:
            overrides = (self.options.capabilities, self.options.force_fallback)
            for builder in builders:
                with stage("capability query"):
                    supports = query_support(
                        model, index, builder.spec, self.core, self.configs, overrides, self.converted
                    )
                with stage("partition build"):
                    builder.start(supports)
            _hand_over({name: data for b in builders for name, data in b.members.items()}, self.writer)
            with stage("partition build"):
                built = [builder.finish() for builder in builders]
        finally:
            for builder in builders:
                builder.close()
        members = {name: data for _, plan_members in built for name, data in plan_members.items()}
        _hand_over(members, self.writer, blobs=True)
        with stage("package hash"):
            described = self.writer.describe(members)
        manifest = Manifest(
            schema_version=SCHEMA_VERSION,
            ovaot_version=__version__,
            openvino_version=ov.get_version(),
            source_digest=loaded.source_digest,
            source_name=loaded.source_name,
            target=self.target.spec,
            options=self.options.to_manifest(),
            inputs=[value_info(v) for v in model.graph.input],
            outputs=[value_info(v) for v in model.graph.output],
            plans=[plan for plan, _ in built],
            members=described,
            known_defects=sorted(known_defects()),
        )
        return manifest, members

    def close(self) -> None:
        if self._started is not None:
            self._started.close()

    def _context(
        self, model: ModelProto, index: GraphIndex, reference: list[dict[str, Any]] | None = None
    ) -> BuildContext:
        options, quantizer, compressor = self.options, None, None
        if options.quantize:
            weights = {t.name for t in model.graph.initializer}
            inputs = [v.name for v in model.graph.input if v.name not in weights]
            samples = load_samples(options.calibration, inputs, options.calibration_size)
            quantizer = Quantizer(samples, set(inputs))
        if options.compress_weights:
            compressor = WeightCompressor(options.compress_weights, options.group_size, options.ratio)
        return BuildContext(
            model,
            index,
            options,
            self.target.precision,
            self.core,
            self.converted,
            reference,
            self.exporters.folder,
            self.temps,
            self.progress,
            quantizer,
            compressor,
        )


def _hand_over(members: Mapping[str, MemberData], writer: PackageWriter, blobs: bool = False) -> None:
    """Hand the members made so far to the writer, in package order; blobs only once every plan is built."""
    for name in package_order(members):
        if blobs or not name.endswith(BLOB_SUFFIX):
            writer.add(name, members[name])


def _likely_support(
    spec: PlanSpec,
    index: GraphIndex,
    core: ov.Core,
    converted: tuple[ov.Model, bool] | None,
    options: CompileOptions,
    temps: SaveTemps | None,
) -> dict[str, list[Support]] | None:
    """Every node on the plan's first device, when that is the likely answer of the capability query: the device
    is here, OpenVINO converted the whole model, and no option sends an op elsewhere; else None."""
    device = spec.devices[0]
    refused = set(options.force_fallback) | {
        op for ops in options.capabilities.values() for op, ok in ops.items() if not ok
    }
    if (
        spec.mode == PlanMode.MULTI
        or temps is not None  # the guess would leave its partitions among the saved temps
        or converted is None
        or converted[1]
        or device == "AUTO"
        or not device_present(core, device)
        or refused & {node.op_type for node in index.nodes}
    ):
        return None
    guess = Support(True, f"{device}: likely, before the capability query", SupportSource.LIVE_QUERY)
    return {d: [guess] * len(index.nodes) for d in spec.devices}


class _Exporters:
    """Fresh exporters, one per list of jobs, and the folder the compile writes its IR and blobs to (removed
    at exit); with reproducible, the first worker process is started ahead, so that its start-up overlaps
    loading the model."""

    def __init__(self, reproducible: bool, room_needed: int) -> None:
        self.reproducible = reproducible
        self._folder = scratch_folder(room_needed)
        self.folder = Path(self._folder.name)
        self._ahead: Exporter | None = ExportWorker(self.folder) if reproducible else None

    def next(self) -> Exporter:
        ahead, self._ahead = self._ahead, None
        return ahead or exporter(self.reproducible, self.folder)

    def __enter__(self) -> _Exporters:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ahead is not None:
            self._ahead.close()
        self._folder.cleanup()


def _size_of(model: str | os.PathLike | ModelProto) -> int:
    try:
        return model.ByteSize() if isinstance(model, ModelProto) else os.path.getsize(model)
    except OSError:
        return 0  # no such file: loading will say so


def _up_to_date(output: Path, digest: str, target: Target, options: CompileOptions) -> Manifest | None:
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
        and manifest.target == target.spec
        and manifest.options == json.loads(json.dumps(options.to_manifest()))
        and manifest.ovaot_version == __version__
        and manifest.openvino_version == ov.get_version()
    )
    return manifest if same else None


def _reference(model: ModelProto, options: CompileOptions) -> list[dict[str, Any]] | None:
    """Reference values of every tensor for each sample set, for validation; None when none can be had.

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
    hooks: list[StepHook] = [*([temps.after_pass] if temps is not None else []), *([PassVerifier()] if verify else [])]
    if not hooks:
        return None

    def after_each(step: int, p: Pass, before: ModelProto, after: ModelProto) -> None:
        for hook in hooks:
            hook(step, p, before, after)

    return after_each


__all__ = ["CompileOptions", "CompileResult", "PackageBuild", "compile"]
