"""Verify a package on this host: every member against its hash, and whether each blob imports here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ovaot.defect_table import defects_met
from ovaot.engines import ov_c
from ovaot.engines.blob_check import check_blob, seeded_sets
from ovaot.errors import OvaotError, first_line
from ovaot.format.manifest import ArtifactRole, BlobCheckStatus, Manifest, Partition
from ovaot.format.package import PackageReader
from ovaot.loader.placement import HostDevices, choose_plan


@dataclass
class BlobCheck:
    plan: str
    partition: int
    device: str
    status: str  # "imports", "fails", "differs from its IR", "device absent", "not shipped" (failed the blob check)
    reason: str = ""


@dataclass
class VerifyReport:
    package: str
    integrity: str = "ok"
    blobs: list[BlobCheck] = field(default_factory=list)
    runnable_plan: str | None = None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def verify_package(path: str | Path) -> VerifyReport:
    report = VerifyReport(package=str(path))
    try:
        reader = PackageReader(path)
        reader.verify()
    except OvaotError as exc:
        report.integrity = str(exc)
        report.problems.append(str(exc))
        return report
    with reader:
        report.warnings.extend(_defects_unknown_at_build(reader.manifest))
        core = ov_c.Core()
        host = HostDevices(core.available_devices())
        for plan in reader.manifest.plans:
            for partition in plan.partitions:
                for device, member in partition.blobs.items():
                    check = BlobCheck(plan.name, partition.index, device, "device absent")
                    if host.resolve(device) is not None:
                        _check_blob(core, reader, partition, device, member, check)
                    if check.status not in ("imports", "device absent"):
                        why = f" ({check.reason})" if check.status == "differs from its IR" else ""
                        where = f"{plan.name} partition {partition.index}"
                        report.problems.append(f"{where}: {device} blob {check.status}{why}")
                    report.blobs.append(check)
                for device, found in partition.blob_checks.items():
                    if found.status == BlobCheckStatus.FAILED and device not in partition.blobs:
                        report.blobs.append(BlobCheck(plan.name, partition.index, device, "not shipped", found.detail))
        try:
            report.runnable_plan = choose_plan(reader.manifest, host, strict=False)[0].name
        except OvaotError as exc:
            report.problems.append(str(exc))
    return report


def _check_blob(
    core: ov_c.Core, reader: PackageReader, partition: Partition, device: str, member: str, check: BlobCheck
) -> None:
    """Whether the blob imports on this host and, where the package holds the partition's IR, gives the IR's
    outputs on a seeded sample (the blob check again, here)."""
    config = partition.compile_config
    if ArtifactRole.IR_XML not in partition.artifacts:
        try:
            core.import_model(reader.view(member), device, config).close()
            check.status = "imports"
        except RuntimeError as exc:
            check.status, check.reason = "fails", first_line(exc)
        return
    xml = bytes(reader.view(partition.artifacts[ArtifactRole.IR_XML]))
    compiled = core.compile_model_from_memory(
        xml, reader.view(partition.artifacts[ArtifactRole.IR_BIN]), device, config
    )
    try:
        if any(p.shape is None for p in compiled.inputs):
            core.import_model(reader.view(member), device, config).close()
            check.status, check.reason = "imports", "not compared with its IR (an input of dynamic rank)"
            return
        samples = seeded_sets([(p.shape, p.dtype) for p in compiled.inputs])
        found = check_blob(core, compiled, bytes(reader.view(member)), device, config, samples)
    except RuntimeError as exc:
        check.status, check.reason = "fails", first_line(exc)
        return
    finally:
        compiled.close()
    if found.get("imports") is False:
        check.status, check.reason = "fails", found["detail"]
    elif found["status"] == BlobCheckStatus.FAILED:
        check.status, check.reason = "differs from its IR", found["detail"]
    elif found["status"] == BlobCheckStatus.PASSED:
        check.status, check.reason = "imports", "gives its IR's outputs on a seeded sample"
    else:
        check.status, check.reason = "imports", f"not compared with its IR ({found['detail']})"


def _defects_unknown_at_build(manifest: Manifest) -> list[str]:
    """Known OpenVINO defects that affect the package's OpenVINO and ops but that its compiler did not know."""
    op_types = {n.op_type for plan in manifest.plans for p in plan.partitions for n in p.nodes}
    return [
        f"built without known defect {d.id} ({d.op}, {d.pattern}: {d.symptom}), which affects its OpenVINO "
        f"{manifest.openvino_version.split('-')[0]}; rebuild it with this ovaot"
        for d in defects_met(op_types, manifest.openvino_version, manifest.known_defects)
    ]
