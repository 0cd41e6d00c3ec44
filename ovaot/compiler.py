"""The compiler pipeline: load -> normalise -> capability -> partition -> codegen -> package."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import openvino as ov
from onnx import ModelProto

from ovaot import frontend
from ovaot.capability import CapabilityQuery, Support
from ovaot.codegen.fallback import fallback_artifact
from ovaot.codegen.openvino import compile_config, compile_partition
from ovaot.errors import CompileError, DeviceError
from ovaot.graph import GraphIndex
from ovaot.manifest import SCHEMA_VERSION, Manifest, NodePlacement, Partition, ValueInfo
from ovaot.package import describe_members, write_package
from ovaot.partition import partition
from ovaot.targets import Target, parse_target
from ovaot.typeinfo import value_info
from ovaot.version import __version__

log = logging.getLogger(__name__)

FALLBACK = "fallback"


@dataclass(frozen=True)
class CompileOptions:
    """Everything besides the model that decides what a package holds."""

    target: Target
    force_fallback: tuple[str, ...] = ()

    def to_manifest(self) -> dict[str, object]:
        return {"force_fallback": sorted(self.force_fallback)}


@dataclass(frozen=True)
class CompileResult:
    output: Path
    manifest: Manifest

    def summary(self) -> str:
        kinds = [f"{p.kind}:{p.device}" if p.device else p.kind for p in self.manifest.partitions]
        return f"wrote {self.output} ({len(kinds)} partitions: {', '.join(kinds)})"


def compile(
    model: str | os.PathLike | ModelProto,
    target: str | Target,
    output: str | os.PathLike,
    *,
    force_fallback: Sequence[str] = (),
) -> CompileResult:
    """Compile an ONNX model for a target into one .ovpkg file at `output`."""
    options = CompileOptions(
        target=parse_target(target) if isinstance(target, str) else target,
        force_fallback=tuple(dict.fromkeys(force_fallback)),
    )
    loaded = frontend.load(model)
    manifest, members = build_package(loaded, options)
    write_package(output, manifest, members)
    result = CompileResult(output=Path(output), manifest=manifest)
    log.info("%s", result.summary())
    return result


def _device_for(core: ov.Core, target: Target) -> str:
    if target.mode != "single":
        raise CompileError(f"target {target.spec}: {target.mode.upper()} targets are not supported yet")
    device = target.device
    plugin = device.split(".")[0]
    if device == "AUTO":
        return device
    if device not in core.available_devices and plugin not in core.available_devices:
        raise DeviceError(
            f"target {target.spec} needs the {device} device, which this host does not have "
            f"(available: {', '.join(core.available_devices)})"
        )
    return device


def build_package(loaded: frontend.LoadedModel, options: CompileOptions) -> tuple[Manifest, dict[str, bytes]]:
    core = ov.Core()
    device = _device_for(core, options.target)
    config = compile_config(options.target.precision)
    model = loaded.model
    index = GraphIndex.build(model)
    support = CapabilityQuery(core, device, config).support(model, index, options.force_fallback)
    labels = ["openvino" if s.ok else FALLBACK for s in support]
    groups = partition(index.users, labels)

    partitions: list[Partition] = []
    members: dict[str, bytes] = {}
    for number, group in enumerate(groups):
        prefix = f"partitions/{number:03d}-{group.label}"
        subgraph, consumes, produces = index.extract(model, list(group.node_ids), f"partition_{number}")
        nodes = [_placement(index, i, support[i]) for i in group.node_ids]
        log.info("partition %d: %s, %d nodes", number, group.label, len(nodes))
        if group.label == FALLBACK:
            members[f"{prefix}/model.onnx"] = fallback_artifact(subgraph)
            artifacts = {"onnx": f"{prefix}/model.onnx"}
            partitions.append(Partition(number, "fallback", None, consumes, produces, nodes, artifacts))
            continue
        built = compile_partition(core, subgraph, device, config, produces)
        artifacts = {
            "ir_xml": f"{prefix}/model.xml",
            "ir_bin": f"{prefix}/model.bin",
            "blob": f"{prefix}/{device}.blob",
        }
        members.update(
            {artifacts["ir_xml"]: built.xml, artifacts["ir_bin"]: built.weights, artifacts["blob"]: built.blob}
        )
        partitions.append(
            Partition(
                number, "openvino", device, consumes, produces, nodes, artifacts, config, built.reported_precision
            )
        )

    manifest = Manifest(
        schema_version=SCHEMA_VERSION,
        ovaot_version=__version__,
        openvino_version=ov.get_version(),
        source_sha256=loaded.source_sha256,
        source_name=loaded.source_name,
        target=options.target.spec,
        options=options.to_manifest(),
        inputs=[value_info(v) for v in model.graph.input],
        outputs=[value_info(v) for v in model.graph.output],
        partitions=partitions,
        members=describe_members(members),
    )
    return manifest, members


def _placement(index: GraphIndex, node_id: int, support: Support) -> NodePlacement:
    node = index.nodes[node_id]
    return NodePlacement(node.name, node.op_type, node.domain, support.reason, support.source)


__all__ = ["CompileOptions", "CompileResult", "ValueInfo", "compile"]
