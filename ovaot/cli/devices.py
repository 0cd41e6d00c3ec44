"""What this host offers: the devices OpenVINO sees and which targets can be precompiled here."""

from __future__ import annotations

from typing import Any

import openvino as ov

from ovaot.compiler.capability import device_present
from ovaot.targets import LEGACY_TARGETS, PLAIN_DEVICES, parse_target

_REPORTED_PROPERTIES = ("FULL_DEVICE_NAME", "DEVICE_ARCHITECTURE", "OPTIMIZATION_CAPABILITIES", "DEVICE_TYPE")


def _property(core: ov.Core, device: str, name: str) -> Any:
    try:
        value = core.get_property(device, name)
    except RuntimeError:
        return None
    return value if isinstance(value, (str, int, float, bool, list)) else str(value)


def devices_report() -> dict[str, Any]:
    core = ov.Core()
    available = core.available_devices
    devices = [
        {
            "name": name,
            "full_name": _property(core, name, "FULL_DEVICE_NAME"),
            "capabilities": _property(core, name, "OPTIMIZATION_CAPABILITIES") or [],
            "properties": {p: _property(core, name, p) for p in _REPORTED_PROPERTIES},
        }
        for name in available
    ]
    targets = []
    for spec in [*LEGACY_TARGETS, *PLAIN_DEVICES]:
        target = parse_target(spec)
        here = all(device_present(core, d) for d in target.devices)
        targets.append({"target": spec, "devices": list(target.devices), "precompiled_here": here})
    return {"openvino_version": ov.get_version(), "devices": devices, "targets": targets}
