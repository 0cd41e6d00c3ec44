"""ovaot.loader.placement: which plan of a package runs on a host, and on which devices, for device lists given
as data (HostDevices takes a list), so every case runs on any host."""

from __future__ import annotations

import logging

import pytest

from ovaot.errors import DeviceError
from ovaot.format.manifest import Manifest, Partition, Plan
from ovaot.loader.placement import HostDevices, choose_plan

from helpers import bare_manifest


def _partition(index: int, devices: list[str], kind: str = "openvino") -> Partition:
    return Partition(
        index=index, kind=kind, devices=devices, consumes=[], produces=[], nodes=[], artifacts={}, blobs={}
    )


def _plan(name: str, mode: str, *partitions: Partition) -> Plan:
    devices = sorted({d for p in partitions for d in p.devices})
    return Plan(name=name, mode=mode, devices=devices, partitions=list(partitions))


def _manifest(*plans: Plan) -> Manifest:
    return bare_manifest(list(plans))


def _myriad_with_host_variant() -> Manifest:
    return _manifest(
        _plan("target", "single", _partition(0, ["MYRIAD"])),
        _plan("host", "single", _partition(0, ["CPU"])),
    )


def test_a_myriad_package_runs_its_host_variant_where_myriad_is_absent(caplog):
    with caplog.at_level(logging.WARNING):
        plan, choices = choose_plan(_myriad_with_host_variant(), HostDevices(["CPU"]), strict=False)
    assert plan.name == "host"
    assert [c.devices for c in choices] == [[("CPU", "CPU")]]
    assert "running the host variant" in caplog.text and "needs MYRIAD" in caplog.text


@pytest.mark.parametrize("old", ["MYRIAD", "HDDL"])
def test_an_npu_takes_the_target_plan_of_a_retired_vpu_when_not_strict(old: str):
    manifest = _manifest(
        _plan("target", "single", _partition(0, [old])), _plan("host", "single", _partition(0, ["CPU"]))
    )
    plan, choices = choose_plan(manifest, HostDevices(["CPU", "NPU"]), strict=False)
    assert plan.name == "target"
    assert [c.devices for c in choices] == [[(old, "NPU")]]


def test_strict_refuses_a_successor_and_the_host_variant_and_says_what_is_here():
    with pytest.raises(DeviceError) as refused:
        choose_plan(_myriad_with_host_variant(), HostDevices(["CPU", "NPU"]), strict=True)
    message = str(refused.value)
    assert "partition 0 needs MYRIAD" in message and "strict=True refuses any substitution" in message
    assert message.endswith("devices here: CPU, NPU")


def test_strict_takes_the_target_plan_when_its_devices_are_here():
    manifest = _manifest(
        _plan("target", "single", _partition(0, ["GPU"])), _plan("host", "single", _partition(0, ["CPU"]))
    )
    plan, choices = choose_plan(manifest, HostDevices(["CPU", "GPU"]), strict=True)
    assert plan.name == "target" and [c.devices for c in choices] == [[("GPU", "GPU")]]


def test_the_target_plan_wins_when_both_plans_can_run():
    manifest = _manifest(
        _plan("target", "single", _partition(0, ["CPU"])), _plan("host", "single", _partition(0, ["CPU"]))
    )
    assert choose_plan(manifest, HostDevices(["CPU"]), strict=False)[0].name == "target"


def test_fallback_partitions_need_no_device_and_get_no_choice():
    manifest = _manifest(
        _plan("target", "single", _partition(0, ["CPU"]), _partition(1, [], kind="fallback"), _partition(2, ["CPU"]))
    )
    plan, choices = choose_plan(manifest, HostDevices([]), strict=True)
    assert plan.name == "target"
    assert [None if c is None else c.devices for c in choices] == [[("CPU", "CPU")], None, [("CPU", "CPU")]]


def test_a_multi_partition_runs_on_the_devices_of_it_that_are_here():
    manifest = _manifest(_plan("target", "multi", _partition(0, ["GPU", "CPU"])))
    _, choices = choose_plan(manifest, HostDevices(["CPU"]), strict=False)
    assert choices[0].devices == [("CPU", "CPU")]
    _, choices = choose_plan(manifest, HostDevices(["CPU", "GPU.0", "GPU.1"]), strict=False)
    assert choices[0].devices == [("GPU", "GPU.0"), ("CPU", "CPU")]


def test_a_package_no_plan_of_which_runs_here_is_refused_with_every_reason():
    manifest = _manifest(_plan("target", "single", _partition(0, ["GPU"])))
    with pytest.raises(DeviceError, match=r"^plan target: partition 0 needs GPU, .*; devices here: none$"):
        choose_plan(manifest, HostDevices([]), strict=False)
    fpga = _manifest(
        _plan("target", "hetero", _partition(0, ["FPGA"])), _plan("host", "single", _partition(0, ["GPU"]))
    )
    with pytest.raises(DeviceError, match=r"plan target: partition 0 needs FPGA.*plan host: partition 0 needs GPU"):
        choose_plan(fpga, HostDevices(["CPU", "NPU"]), strict=False)


@pytest.mark.parametrize(
    ("available", "device", "expected"),
    [
        (["CPU", "GPU"], "GPU", "GPU"),
        (["CPU", "GPU.0", "GPU.1"], "GPU", "GPU.0"),  # the plugin's first device
        (["CPU", "GPU.0", "GPU.1"], "GPU.1", "GPU.1"),
        (["CPU", "GPU.0"], "GPU.1", None),  # a numbered device is that device or nothing
        (["CPU"], "GPU", None),
        (["CPU"], "NPU", None),
        ([], "AUTO", "AUTO"),  # AUTO picks among whatever is here when it compiles
    ],
)
def test_resolve_names_the_device_to_use_here(available: list[str], device: str, expected: str | None):
    assert HostDevices(available).resolve(device) == expected


def test_the_device_id_option_picks_that_device_of_the_plugin():
    host = HostDevices(["CPU", "GPU.0", "GPU.1"], device_id="GPU.1")
    assert host.resolve("GPU") == "GPU.1" and host.resolve("CPU") == "CPU"


def test_devices_are_listed_only_when_a_plan_needs_more_than_the_cpu():
    asked = []

    def listing() -> list[str]:
        asked.append(True)
        return ["CPU", "GPU"]

    host = HostDevices(listing)
    choose_plan(_manifest(_plan("target", "single", _partition(0, ["CPU"]))), host, strict=False)
    assert not asked
    choose_plan(_manifest(_plan("target", "single", _partition(0, ["GPU"]))), host, strict=False)
    choose_plan(_manifest(_plan("target", "single", _partition(0, ["GPU"]))), host, strict=False)
    assert asked == [True]  # once, then remembered
