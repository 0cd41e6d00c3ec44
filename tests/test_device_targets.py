"""Every target of the spec compiles a mixed model, runs here, and places ops honestly.

Nothing here assumes this host's devices: what is precompiled, where a package runs and how closely it matches
the reference follow from what OpenVINO reports here (helpers.host_has), so a host with a GPU or NPU passes too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

import ovaot
from ovaot.compiler.capability import spec_table
from ovaot.errors import DeviceError, UsageError

from helpers import host_devices, host_has

# Conv, Relu and Sigmoid are Yes in the spec's VPU column; Sign, Abs, Softsign, Tan and ReduceProd are No.
MIXED_MODEL = """
<ir_version: 8, opset_import: ["" : 17]>
mixed (float[1, 3, 12, 12] x) => (float[1, 4, 10, 10] y, float[1, 1, 1, 1] p) {
  c = Conv (x, w)
  r = Relu (c)
  s = Sign (c)
  a = Abs (s)
  t = Softsign (r)
  u = Tan (t)
  m = Mul (u, a)
  y = Sigmoid (m)
  p = ReduceProd <keepdims = 1> (a)
}
"""
VPU_NO = {"Sign", "Abs", "Softsign", "Tan", "ReduceProd"}

TARGETS = [
    "CPU_FP32",
    "GPU_FP32",
    "GPU_FP16",
    "MYRIAD_FP16",
    "VAD-M_FP16",
    "VAD-F_FP32",
    "HETERO:MYRIAD,CPU",
    "HETERO:HDDL,GPU,CPU",
    "HETERO:FPGA,CPU",
    "MULTI:MYRIAD,GPU,CPU",
    "MULTI:GPU,CPU",
    "CPU",
    "GPU",
    "NPU",
    "AUTO",
    "GPU.1",
]


@pytest.fixture(scope="module")
def mixed() -> onnx.ModelProto:
    model = onnx.parser.parse_model(MIXED_MODEL)
    weight = np.random.default_rng(21).standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    model.graph.initializer.append(numpy_helper.from_array(weight, "w"))
    return model


@pytest.fixture(scope="module")
def feed() -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(22).standard_normal((1, 3, 12, 12)).astype(np.float32)}


def _plugin(device: str) -> str:
    return device.split(".")[0]


def _runs_at_f32(device: str) -> bool:
    """Whether a partition placed on `device` here computes in f32 by default: the CPU does, a GPU or NPU does
    not, and AUTO picks a GPU, then an NPU, then the CPU."""
    if device == "AUTO":
        return not (host_has("GPU") or host_has("NPU"))
    return _plugin(device) == "CPU"


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_compiles_and_runs_here_like_the_reference(target, mixed, feed, tmp_path: Path):
    result = ovaot.compile(mixed, target, tmp_path / "m.ovpkg")
    session = ovaot.load(tmp_path / "m.ovpkg")
    runs_on = [p for p in session.placements if p.kind == "openvino"]
    assert runs_on and all(host_has(_plugin(d)) or d == "AUTO" for p in runs_on for d in p.devices)
    at_f32 = not target.endswith("FP16") and all(_runs_at_f32(d) for p in runs_on for d in p.devices)
    rtol = 1e-4 if at_f32 else 2e-2
    for got, want in zip(session.run(None, feed), ReferenceEvaluator(mixed).run(None, feed)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2)
    # What is precompiled is exactly what this host can compile: a blob for each device here, IR for the rest.
    for plan in result.manifest.plans:
        for partition in plan.partitions:
            assert set(partition.blobs) == {d for d in partition.devices if host_has(d)}, (plan.name, partition.index)
            if partition.kind == "openvino":
                assert partition.requested_precision == ("f16" if target.endswith("FP16") else result_precision(target))


def result_precision(target: str) -> str | None:
    return "f32" if target.endswith("FP32") or target.startswith("CPU") else None


def test_auto_is_compiled_at_load_not_pretended(mixed, tmp_path: Path):
    manifest = ovaot.compile(mixed, "AUTO", tmp_path / "m.ovpkg").manifest
    openvino = [p for p in manifest.partitions if p.kind == "openvino"]
    assert openvino and all(p.devices == ["AUTO"] and not p.blobs for p in openvino)
    assert [p.how for p in ovaot.load(tmp_path / "m.ovpkg").placements if p.kind == "openvino"] == [["ir"]] * len(
        openvino
    )


def _placement(manifest, plan="target") -> dict[str, tuple[str, str | None]]:
    chosen = manifest.plan(plan)
    return {n.op_type: (p.kind, p.device) for p in chosen.partitions for n in p.nodes}


def test_myriad_partitions_hold_only_ops_the_vpu_column_marks_yes(mixed, tmp_path: Path):
    manifest = ovaot.compile(mixed, "MYRIAD_FP16", tmp_path / "m.ovpkg").manifest
    placement = _placement(manifest)
    for op, (kind, device) in placement.items():
        assert (kind == "openvino") == spec_table()[op]["VPU"], op
        assert device in ("MYRIAD", None)
    reasons = {n.op_type: (n.source, n.reason) for p in manifest.partitions for n in p.nodes}
    assert reasons["Sign"] == ("table", "spec table: Sign is No for VPU (MYRIAD)")
    # The MYRIAD partitions carry IR only; the host variant carries a CPU blob of the whole model.
    assert all(not p.blobs for p in manifest.partitions)
    host = manifest.plan("host")
    assert host is not None and all(p.blobs == {"CPU": p.blobs["CPU"]} for p in host.partitions if p.kind == "openvino")


def test_hetero_puts_what_myriad_lacks_on_the_cpu_not_the_fallback(mixed, tmp_path: Path):
    manifest = ovaot.compile(mixed, "HETERO:MYRIAD,CPU", tmp_path / "m.ovpkg").manifest
    placement = _placement(manifest)
    assert {op for op, (kind, _) in placement.items() if kind == "fallback"} == set()
    assert {op for op, (_, device) in placement.items() if device == "CPU"} == VPU_NO
    assert {op for op, (_, device) in placement.items() if device == "MYRIAD"} == {"Conv", "Relu", "Mul", "Sigmoid"}
    cpu = [p for p in manifest.partitions if p.devices == ["CPU"]]
    assert cpu and all(set(p.blobs) == {"CPU"} for p in cpu)
    assert {n.source for p in cpu for n in p.nodes} == {"live-query"}


def test_strict_refuses_a_myriad_package_on_any_host(mixed, tmp_path: Path):
    ovaot.compile(mixed, "MYRIAD_FP16", tmp_path / "m.ovpkg")
    here = re.escape(", ".join(host_devices()))
    with pytest.raises(
        DeviceError, match=rf"needs MYRIAD.*strict=True refuses any substitution.*devices here: {here}$"
    ):
        ovaot.load(tmp_path / "m.ovpkg", strict=True)


def test_a_myriad_package_runs_its_ir_on_an_npu_else_the_host_variant(mixed, feed, tmp_path: Path, caplog):
    ovaot.compile(mixed, "MYRIAD_FP16", tmp_path / "m.ovpkg")
    session = ovaot.load(tmp_path / "m.ovpkg")
    if host_has("NPU"):  # the MYRIAD's successor takes the target plan, compiled from its IR
        assert session.plan.name == "target" and "MYRIAD is not here; compiling its IR for NPU" in caplog.text
        assert all(p.how == ["ir"] for p in session.placements if p.kind == "openvino")
    else:
        assert session.plan.name == "host" and "running the host variant" in caplog.text
    for got, want in zip(session.run(None, feed), ReferenceEvaluator(mixed).run(None, feed)):
        np.testing.assert_allclose(got, want, rtol=2e-2, atol=2e-4)


@pytest.mark.skipif(host_has("GPU"), reason="needs a host without a GPU: this one could run a GPU_FP16 package")
def test_no_host_variant_leaves_a_package_a_host_without_a_gpu_cannot_run(mixed, tmp_path: Path):
    manifest = ovaot.compile(mixed, "GPU_FP16", tmp_path / "m.ovpkg", host_variant=False).manifest
    assert [p.name for p in manifest.plans] == ["target"]
    with pytest.raises(DeviceError, match="needs GPU"):
        ovaot.load(tmp_path / "m.ovpkg")


def test_multi_spreads_requests_over_present_devices_with_single_device_results(mixed, feed, tmp_path: Path):
    ovaot.compile(mixed, "MULTI:GPU,CPU", tmp_path / "multi.ovpkg")
    ovaot.compile(mixed, "CPU_FP32", tmp_path / "single.ovpkg")
    multi, single = ovaot.load(tmp_path / "multi.ovpkg"), ovaot.load(tmp_path / "single.ovpkg")
    assert multi.plan.name == "target" and multi.plan.mode == "multi"
    present = [d for d in ("GPU", "CPU") if host_has(d)]
    assert all([_plugin(d) for d in p.devices] == present for p in multi.placements if p.kind == "openvino")
    rtol = 0 if present == ["CPU"] else 2e-2  # a GPU computes in f16 by default, the CPU in f32
    rng = np.random.default_rng(23)
    feeds = [{"x": rng.standard_normal((1, 3, 12, 12)).astype(np.float32)} for _ in range(12)]
    for got, one in zip(multi.run_many(feeds, in_flight=4), feeds):
        for a, b in zip(got, single.run(None, one)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)


def test_capabilities_file_overrides_the_table_and_is_recorded(mixed, tmp_path: Path):
    caps = tmp_path / "caps.json"
    caps.write_text(json.dumps({"MYRIAD": {"Sign": True, "Conv": False}}))
    manifest = ovaot.compile(mixed, "MYRIAD_FP16", tmp_path / "m.ovpkg", capabilities=caps).manifest
    placement = _placement(manifest)
    assert placement["Sign"] == ("openvino", "MYRIAD") and placement["Conv"] == ("fallback", None)
    sign = next(n for p in manifest.partitions for n in p.nodes if n.op_type == "Sign")
    assert sign.source == "user"
    assert manifest.options["capabilities"] == {"MYRIAD": {"Conv": False, "Sign": True}}
    caps.write_text('{"MYRIAD": {"Sign": "yes"}}')
    with pytest.raises(UsageError, match="expected"):
        ovaot.compile(mixed, "MYRIAD_FP16", tmp_path / "m2.ovpkg", capabilities=caps)


def test_fp16_targets_store_fp16_weights(mixed, tmp_path: Path):
    fp16 = ovaot.compile(mixed, "GPU_FP16", tmp_path / "h.ovpkg").manifest
    fp32 = ovaot.compile(mixed, "GPU_FP32", tmp_path / "f.ovpkg").manifest

    def weights(manifest) -> int:
        conv = next(p for p in manifest.partitions if "Conv" in {n.op_type for n in p.nodes})
        return manifest.members[conv.artifacts["ir_bin"]].size

    assert weights(fp16) < weights(fp32)
    host = fp16.plan("host").partitions
    assert {tuple(p.reported_precision.items()) for p in host if p.kind == "openvino"} <= {
        (("CPU", "f32"),),
        (("CPU", "f16"),),
    }
