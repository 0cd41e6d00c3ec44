"""Export a package as a model repository that OpenVINO Model Server or Triton's OpenVINO backend serves.

Both servers run an OpenVINO IR; a package whose plan is one OpenVINO partition holds exactly that (its
portable IR) and the properties it was compiled with. A package that needs the numpy fallback cannot be served
by them: it is refused, pointing to `ovaot serve`, which runs any package.

OpenVINO Model Server: REPO/<name>/<version>/model.xml|.bin and REPO/config.json (`model_config_list`, the
entry for <name> added or replaced; `base_path` relative to config.json, which the server allows). Triton:
REPO/<name>/config.pbtxt (backend "openvino", inputs and outputs with -1 for dynamic dimensions, the
properties its backend takes as parameters) and REPO/<name>/<version>/model.xml|.bin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ovaot.errors import PackageError, UsageError
from ovaot.format.manifest import ArtifactRole, Manifest, Partition, PartitionKind, Plan, PlanName, StrEnum, ValueInfo
from ovaot.format.package import PackageReader
from ovaot.integrations.serving import V2_DATATYPES
from ovaot.targets import SUCCESSORS, plugin_of


class RepositoryFormat(StrEnum):
    OVMS = "ovms"  # OpenVINO Model Server
    TRITON = "triton"  # Triton Inference Server's OpenVINO backend


# ONNX tensor types -> Triton's data types: the v2 protocol's names, prefixed (strings and bfloat16 have no
# counterpart in the OpenVINO backend)
_TRITON_TYPES = {t: f"TYPE_{v}" for t, v in V2_DATATYPES.items() if v not in ("BYTES", "BF16")}

# OpenVINO properties Triton's OpenVINO backend accepts as parameters (it refuses any other key)
_TRITON_PARAMETERS = ("INFERENCE_NUM_THREADS", "NUM_STREAMS", "PERFORMANCE_HINT")


@dataclass(frozen=True)
class Exported:
    """What export_repository wrote: the model's folder, its name and version, the device it will run on."""

    folder: Path
    name: str
    version: int
    device: str
    notes: list[str]


def export_repository(
    package: str | Path, fmt: str, repository: str | Path, name: str | None = None, version: int = 1
) -> Exported:
    """Write `package` into the model repository `repository` in `fmt` ("ovms" or "triton")."""
    fmt = RepositoryFormat(fmt)
    if version < 1:
        raise UsageError(f"--version must be a positive integer, got {version}")
    package, repository = Path(package), Path(repository)
    name = name or package.stem
    with PackageReader(package) as reader:
        reader.verify()
        manifest = reader.manifest
        plan = _servable_plan(manifest, fmt, package)
        [partition] = plan.partitions
        if ArtifactRole.IR_XML not in partition.artifacts:
            raise PackageError(
                f"{package}: the package holds no IR (it was compiled with --no-ir), and "
                f"{_server(fmt)} serves IR only: compile it again without --no-ir"
            )
        xml = reader.read(partition.artifacts[ArtifactRole.IR_XML])
        weights = reader.read(partition.artifacts[ArtifactRole.IR_BIN])
    device, notes = _device(partition, fmt)
    folder = repository / name
    (folder / str(version)).mkdir(parents=True, exist_ok=True)
    (folder / str(version) / "model.xml").write_bytes(xml)
    (folder / str(version) / "model.bin").write_bytes(weights)
    if fmt == RepositoryFormat.OVMS:
        _write_ovms_config(repository, name, device, partition.compile_config)
    else:
        (folder / "config.pbtxt").write_text(_triton_config(name, manifest, partition.compile_config))
    return Exported(folder, name, version, device, notes)


def _server(fmt: RepositoryFormat) -> str:
    return "OpenVINO Model Server" if fmt == RepositoryFormat.OVMS else "Triton's OpenVINO backend"


def _servable_plan(manifest: Manifest, fmt: RepositoryFormat, package: Path) -> Plan:
    """The plan to export: the target plan, or for Triton (whose OpenVINO backend runs on the CPU) the plan that
    runs on the CPU. It must be one OpenVINO partition."""
    plan = manifest.plans[0]
    if fmt == RepositoryFormat.TRITON and any(p.devices != ["CPU"] for p in plan.partitions):
        plan = manifest.plan(PlanName.HOST) or plan
    fallback = [n for p in plan.partitions if p.kind == PartitionKind.FALLBACK for n in p.nodes]
    if fallback:
        ops = ", ".join(sorted({n.op_type for n in fallback}))
        raise PackageError(
            f"{package}: {len(fallback)} of its nodes ({ops}) run in ovaot's numpy fallback, which "
            f"{_server(fmt)} cannot run; serve the package with `ovaot serve {package}` instead"
        )
    if len(plan.partitions) != 1:
        raise PackageError(
            f"{package}: its plan has {len(plan.partitions)} OpenVINO partitions (HETERO or a split graph), and "
            f"{_server(fmt)} serves one model per name; serve it with `ovaot serve {package}` instead"
        )
    return plan


def _device(partition: Partition, fmt: RepositoryFormat) -> tuple[str, list[str]]:
    device = partition.device or "CPU"
    if fmt == RepositoryFormat.TRITON:
        return "CPU", []
    successor = SUCCESSORS.get(plugin_of(device))
    if successor is not None:
        return successor, [f"{device} left OpenVINO in 2023.0: target_device is {successor}, its successor"]
    return device, []


def _write_ovms_config(repository: Path, name: str, device: str, properties: dict[str, str]) -> None:
    """Add (or replace) `name`'s entry in REPO/config.json, keeping the other models' entries."""
    path = repository / "config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    entries = [e for e in config.get("model_config_list", []) if e.get("config", {}).get("name") != name]
    entry = {"name": name, "base_path": name, "target_device": device}
    if properties:
        entry["plugin_config"] = dict(sorted(properties.items()))
    config["model_config_list"] = sorted([*entries, {"config": entry}], key=lambda e: e["config"]["name"])
    path.write_text(json.dumps(config, indent=2) + "\n")


def _triton_config(name: str, manifest: Manifest, properties: dict[str, str]) -> str:
    lines = [f'name: "{name}"', 'backend: "openvino"', "max_batch_size: 0"]
    for kind, values in (("input", manifest.inputs), ("output", manifest.outputs)):
        lines.append(f"{kind} [")
        lines.append(",\n".join(_triton_tensor(v) for v in values))
        lines.append("]")
    lines.append("instance_group [ { kind: KIND_CPU } ]")
    for key in _TRITON_PARAMETERS:
        if key in properties:
            lines.append(f'parameters: {{ key: "{key}" value: {{ string_value: "{properties[key]}" }} }}')
    return "\n".join(lines) + "\n"


def _triton_tensor(value: ValueInfo) -> str:
    data_type = _TRITON_TYPES.get(value.type)
    if data_type is None:
        raise PackageError(f"{value.name} is a {value.type}, which Triton's OpenVINO backend does not exchange")
    if not value.shape:
        raise PackageError(f"{value.name} is a scalar or of unknown rank, which Triton's OpenVINO backend refuses")
    dims = ", ".join(str(d) if isinstance(d, int) else "-1" for d in value.shape)
    return f'  {{ name: "{value.name}" data_type: {data_type} dims: [ {dims} ] }}'


__all__ = ["Exported", "RepositoryFormat", "export_repository"]
