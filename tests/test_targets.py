"""Target strings of the OpenVINO Execution Provider spec."""

from __future__ import annotations

import pytest

from ovaot.errors import UsageError
from ovaot.targets import parse_target


@pytest.mark.parametrize(
    ("spec", "devices", "precision", "device"),
    [
        ("CPU_FP32", ("CPU",), "f32", "CPU"),
        ("GPU_FP16", ("GPU",), "f16", "GPU"),
        ("MYRIAD_FP16", ("MYRIAD",), "f16", "MYRIAD"),
        ("VAD-M_FP16", ("HDDL",), "f16", "HDDL"),
        ("VAD-F_FP32", ("FPGA", "CPU"), "f32", "HETERO:FPGA,CPU"),
        ("CPU", ("CPU",), "f32", "CPU"),
        ("GPU.1", ("GPU.1",), None, "GPU.1"),
        ("AUTO", ("AUTO",), None, "AUTO"),
        ("HETERO:MYRIAD,CPU", ("MYRIAD", "CPU"), None, "HETERO:MYRIAD,CPU"),
        ("MULTI:MYRIAD,GPU,CPU", ("MYRIAD", "GPU", "CPU"), None, "MULTI:MYRIAD,GPU,CPU"),
    ],
)
def test_valid_targets(spec, devices, precision, device):
    target = parse_target(spec)
    assert (target.devices, target.precision, target.device) == (devices, precision, device)


@pytest.mark.parametrize("spec", ["", "CPU_FP16", "HETERO:CPU", "MULTI:CPU,CPU", "HETERO:CPU,TPU", "cpu_fp32"])
def test_invalid_targets_list_the_valid_ones(spec):
    with pytest.raises(UsageError, match="valid targets: CPU_FP32, GPU_FP32"):
        parse_target(spec)
