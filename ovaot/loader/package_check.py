"""Verify a package on this host: every member against its hash, and whether each blob imports here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ovaot.engines import ov_c
from ovaot.errors import OvaotError, first_line
from ovaot.format.package import PackageReader
from ovaot.loader.placement import HostDevices, choose_plan


@dataclass
class BlobCheck:
    plan: str
    partition: int
    device: str
    status: str  # "imports", "fails", "device absent"
    reason: str = ""


@dataclass
class VerifyReport:
    package: str
    integrity: str = "ok"
    blobs: list[BlobCheck] = field(default_factory=list)
    runnable_plan: str | None = None
    problems: list[str] = field(default_factory=list)

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
        core = ov_c.Core()
        host = HostDevices(core.available_devices())
        for plan in reader.manifest.plans:
            for partition in plan.partitions:
                for device, member in partition.blobs.items():
                    check = BlobCheck(plan.name, partition.index, device, "device absent")
                    if host.resolve(device) is not None:
                        try:
                            core.import_model(reader.view(member), device, partition.compile_config).close()
                            check.status = "imports"
                        except RuntimeError as exc:
                            check.status, check.reason = "fails", first_line(exc)
                            report.problems.append(f"{plan.name} partition {partition.index}: {device} blob fails")
                    report.blobs.append(check)
        try:
            report.runnable_plan = choose_plan(reader.manifest, host, strict=False)[0].name
        except OvaotError as exc:
            report.problems.append(str(exc))
    return report
