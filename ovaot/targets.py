"""Target strings (the OpenVINO Execution Provider's device_type values) parsed into devices and precision."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ovaot.errors import UsageError

# device_type values of the ONNX Runtime OpenVINO EP: OpenVINO device and inference precision.
LEGACY_TARGETS: dict[str, tuple[str, str]] = {
    "CPU_FP32": ("CPU", "f32"),
    "GPU_FP32": ("GPU", "f32"),
    "GPU_FP16": ("GPU", "f16"),
    "MYRIAD_FP16": ("MYRIAD", "f16"),
    "VAD-M_FP16": ("HDDL", "f16"),
    "VAD-F_FP32": ("FPGA", "f32"),
}
COMBINABLE_DEVICES = ("CPU", "GPU", "MYRIAD", "FPGA", "HDDL")
PLAIN_DEVICES = ("CPU", "GPU", "NPU", "AUTO")
_DEVICE_ID = re.compile(r"^(CPU|GPU|NPU)\.\d+$")


@dataclass(frozen=True)
class Target:
    """A parsed target: how devices combine, which OpenVINO devices, and the precision asked for."""

    spec: str
    mode: str  # "single", "hetero" or "multi"
    devices: tuple[str, ...]
    precision: str | None  # "f32", "f16", or None for the device's default

    @property
    def device(self) -> str:
        """The OpenVINO device string to compile for."""
        if self.mode == "single":
            return self.devices[0]
        return f"{self.mode.upper()}:{','.join(self.devices)}"


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
        device, precision = LEGACY_TARGETS[text]
        return Target(spec=text, mode="single", devices=(device,), precision=precision)
    if text in PLAIN_DEVICES or _DEVICE_ID.match(text):
        precision = "f32" if text.startswith("CPU") else None
        return Target(spec=text, mode="single", devices=(text,), precision=precision)
    mode, sep, rest = text.partition(":")
    if sep and mode in ("HETERO", "MULTI"):
        devices = tuple(d.strip() for d in rest.split(","))
        if len(devices) >= 2 and all(d in COMBINABLE_DEVICES for d in devices) and len(set(devices)) == len(devices):
            return Target(spec=text, mode=mode.lower(), devices=devices, precision=None)
    raise UsageError(f"invalid target {spec!r}; valid targets: {valid_targets_text()}")
