"""Choose how each partition of a package runs on this host: which plan, which device, blob or IR."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from ovaot.errors import DeviceError
from ovaot.format.manifest import Manifest, Partition, PartitionKind, Plan, PlanName
from ovaot.loader.log import LoaderLog
from ovaot.targets import SUCCESSORS, plugin_of

log = LoaderLog(__name__)


@dataclass(frozen=True)
class Choice:
    """Where one OpenVINO partition runs: (device the package asked for, device used here) pairs."""

    devices: list[tuple[str, str]]


class HostDevices:
    """The devices of this host, listed only when a plan needs more than the CPU.

    Listing loads every plugin OpenVINO has; the CPU plugin is part of every OpenVINO.
    """

    def __init__(self, available: list[str] | Callable[[], list[str]], device_id: str | None = None) -> None:
        self._available = available
        self.device_id = device_id

    @functools.cached_property
    def available(self) -> list[str]:
        return list(self._available() if callable(self._available) else self._available)

    def resolve(self, device: str) -> str | None:
        """The device name to use for `device` on this host, or None when it is not here."""
        if device == "CPU" and not self.device_id:
            return device
        if self.device_id and plugin_of(self.device_id) == plugin_of(device) and self.device_id in self.available:
            return self.device_id
        if device == "AUTO" or device in self.available:
            return device
        matches = [d for d in self.available if plugin_of(d) == plugin_of(device)]
        return matches[0] if matches and "." not in device else None


def _choose_partition(partition: Partition, host: HostDevices, strict: bool) -> tuple[Choice | None, str]:
    devices, missing = [], []
    for device in partition.devices:
        here = host.resolve(device)
        if here is None and plugin_of(device) in SUCCESSORS and not strict:
            here = host.resolve(SUCCESSORS[plugin_of(device)])
        if here is None:
            missing.append(device)
        else:
            devices.append((device, here))
    if not devices:
        return None, f"partition {partition.index} needs {', '.join(missing)}"
    return Choice(devices), ""


def choose_plan(manifest: Manifest, host: HostDevices, strict: bool) -> tuple[Plan, list[Choice | None]]:
    """The first plan every partition of which can run here; strict=True allows only the target plan as built."""
    reasons = []
    for plan in manifest.plans:
        if strict and plan.name != PlanName.TARGET:
            break
        choices: list[Choice | None] = []
        for partition in plan.partitions:
            if partition.kind == PartitionKind.FALLBACK:
                choices.append(None)
                continue
            choice, reason = _choose_partition(partition, host, strict)
            if choice is None:
                reasons.append(f"plan {plan.name}: {reason}, which this host does not have")
                break
            choices.append(choice)
        else:
            if plan.name != PlanName.TARGET:
                log.warning("running the %s variant: %s", plan.name, "; ".join(reasons))
            return plan, choices
    available = ", ".join(host.available) or "none"
    refusal = " (strict=True refuses any substitution)" if strict else ""
    raise DeviceError(f"{'; '.join(reasons)}{refusal}; devices here: {available}")
