"""Target strings (the OpenVINO Execution Provider's device_type values) parsed into devices and precision."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ovaot.errors import UsageError
from ovaot.format.manifest import PlanMode

# device_type values of the ONNX Runtime OpenVINO EP: OpenVINO device(s) and inference precision.
# The spec says FPGA "only runs in HETERO mode" with the layers it lacks on the CPU, so VAD-F is that.
LEGACY_TARGETS: dict[str, tuple[tuple[str, ...], str]] = {
    "CPU_FP32": (("CPU",), "f32"),
    "GPU_FP32": (("GPU",), "f32"),
    "GPU_FP16": (("GPU",), "f16"),
    "MYRIAD_FP16": (("MYRIAD",), "f16"),
    "VAD-M_FP16": (("HDDL",), "f16"),
    "VAD-F_FP32": (("FPGA", "CPU"), "f32"),
}
# Devices whose plugins left OpenVINO (2023.0), and the device that took over their work.
SUCCESSORS: dict[str, str] = {"MYRIAD": "NPU", "HDDL": "NPU"}
# Plugins that compile static shapes only (the EP requires a static model for them).
STATIC_SHAPE_PLUGINS = ("MYRIAD", "HDDL", "NPU")
COMBINABLE_DEVICES = ("CPU", "GPU", "MYRIAD", "FPGA", "HDDL")
PLAIN_DEVICES = ("CPU", "GPU", "NPU", "AUTO")
_DEVICE_ID = re.compile(r"^(CPU|GPU|NPU)\.\d+$")


@dataclass(frozen=True)
class Target:
    """A parsed target: how devices combine, which OpenVINO devices, and the precision asked for."""

    spec: str
    mode: PlanMode
    devices: tuple[str, ...]
    precision: str | None  # "f32", "f16", or None for the device's default

    @property
    def device(self) -> str:
        """The OpenVINO device string to compile for."""
        if self.mode == PlanMode.SINGLE:
            return self.devices[0]
        return f"{self.mode.upper()}:{','.join(self.devices)}"

    @property
    def static_shapes(self) -> bool:
        """Whether a device of the target compiles static shapes only (MYRIAD, HDDL, NPU)."""
        return any(plugin_of(d) in STATIC_SHAPE_PLUGINS for d in self.devices)

    def with_device_id(self, device_id: str) -> Target:
        """The spec's device_id option: run on that particular device (e.g. GPU.1) instead of the default one."""
        plugin = device_id.split(".")[0]
        if self.mode != PlanMode.SINGLE or plugin != self.devices[0].split(".")[0]:
            raise UsageError(f"device_id {device_id!r} does not name a {self.devices[0]} device of target {self.spec}")
        return Target(spec=self.spec, mode=self.mode, devices=(device_id,), precision=self.precision)


def plugin_of(device: str) -> str:
    """The OpenVINO plugin name of a device id: GPU.1 -> GPU."""
    return device.split(".")[0]


def valid_targets_text() -> str:
    return (
        ", ".join([*LEGACY_TARGETS, *PLAIN_DEVICES])
        + ", CPU.N/GPU.N/NPU.N, HETERO:<D1>,<D2>,..., MULTI:<D1>,<D2>,... "
        + f"(devices from {', '.join(COMBINABLE_DEVICES)}, at least two)"
    )


def parse_target(spec: str) -> Target:
    """Parse a device_type string; raise UsageError listing the valid forms when it is not one."""
    text = spec.strip()
    if text in LEGACY_TARGETS:
        devices, precision = LEGACY_TARGETS[text]
        mode = PlanMode.SINGLE if len(devices) == 1 else PlanMode.HETERO
        return Target(spec=text, mode=mode, devices=devices, precision=precision)
    if text in PLAIN_DEVICES or _DEVICE_ID.match(text):
        precision = "f32" if text.startswith("CPU") else None
        return Target(spec=text, mode=PlanMode.SINGLE, devices=(text,), precision=precision)
    mode, sep, rest = text.partition(":")
    if sep and mode in ("HETERO", "MULTI"):
        devices = tuple(d.strip() for d in rest.split(","))
        if len(devices) >= 2 and all(d in COMBINABLE_DEVICES for d in devices) and len(set(devices)) == len(devices):
            return Target(spec=text, mode=PlanMode(mode.lower()), devices=devices, precision=None)
    raise UsageError(f"invalid target {spec!r}; valid targets: {valid_targets_text()}")
