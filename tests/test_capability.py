"""ovaot.compiler.capability: the spec's op table for devices a host lacks, OpenVINO's live query for the ones it
has, and the user's overrides on top."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import openvino as ov
import pytest
from onnx.reference import ReferenceEvaluator

from ovaot.compiler.capability import (
    CapabilityQuery,
    Support,
    TableCapability,
    apply_overrides,
    device_capability,
    read_capabilities,
)
from ovaot.compiler.graph import GraphIndex
from ovaot.errors import UsageError

from helpers import host_devices, host_has

# The spec's table ("ONNX Layers supported using OpenVINO"): Conv, Relu and Sigmoid are Yes for VPU; Sign and Tan
# are No. The CPU runs all five.
MODEL = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[1, 3, 8, 8] x, float[4, 3, 3, 3] w) => (float[1, 4, 6, 6] y) {
  c = Conv (x, w)
  s = Sign (c)
  t = Tan (s)
  r = Relu (t)
  y = Sigmoid (r)
}
"""
VPU_COLUMN = {"Conv": True, "Sign": False, "Tan": False, "Relu": True, "Sigmoid": True}


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return onnx.shape_inference.infer_shapes(onnx.parser.parse_model(MODEL))


@pytest.fixture(scope="module")
def core() -> ov.Core:
    return ov.Core()


def _verdicts(supports: list[Support], model: onnx.ModelProto) -> dict[str, tuple[bool, str]]:
    return {node.op_type: (s.ok, s.source) for node, s in zip(model.graph.node, supports)}


@pytest.mark.parametrize("device", ["MYRIAD", "HDDL"])
def test_a_retired_vpu_is_judged_by_the_spec_tables_vpu_column(device: str, model, core):
    capability = device_capability(core, device, {})
    assert isinstance(capability, TableCapability)  # no host has these plugins any more
    supports = capability.support(model, GraphIndex.build(model))
    assert _verdicts(supports, model) == {op: (ok, "table") for op, ok in VPU_COLUMN.items()}
    sign = supports[1]
    assert "Sign" in sign.reason and "No" in sign.reason and device in sign.reason


def test_the_npu_is_judged_by_the_vpu_column_where_the_host_lacks_one(model):
    supports = TableCapability("NPU").support(model, GraphIndex.build(model))
    assert _verdicts(supports, model) == {op: (ok, "table") for op, ok in VPU_COLUMN.items()}


def test_the_npu_is_asked_live_exactly_where_the_host_has_one(core):
    assert isinstance(device_capability(core, "NPU", {}), CapabilityQuery) == host_has("NPU")


def test_the_live_cpu_query_takes_what_the_vpu_column_refuses_and_the_cpu_computes_it(model, core):
    capability = device_capability(core, "CPU", {})
    assert isinstance(capability, CapabilityQuery)
    supports = capability.support(model, GraphIndex.build(model))
    assert _verdicts(supports, model) == {op: (True, "live-query") for op in VPU_COLUMN}
    # and the CPU does compute Sign and Tan as onnx.reference does
    rng = np.random.default_rng(5)
    feed = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32), "w": rng.standard_normal((4, 3, 3, 3))}
    feed["w"] = feed["w"].astype(np.float32)
    compiled = core.compile_model(
        core.read_model(model.SerializeToString()), "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    got = compiled(feed)[0]
    np.testing.assert_allclose(got, ReferenceEvaluator(model).run(None, feed)[0], rtol=1e-5, atol=1e-6)


def test_a_device_without_a_table_column_supports_nothing(model):
    supports = TableCapability("FPGA").support(model, GraphIndex.build(model))
    assert not any(s.ok for s in supports) and all("no column for FPGA" in s.reason for s in supports)


def test_an_op_outside_the_table_or_of_another_domain_is_unsupported_by_the_table():
    custom = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17, "my.domain" : 1]>
        g (float[2] x) => (float[2] y) {
          y = my.domain.Relu (x)
        }
    """)
    (support,) = TableCapability("MYRIAD").support(custom, GraphIndex.build(custom))
    assert not support.ok and "my.domain.Relu is not in the spec's table" in support.reason


def test_an_op_openvino_cannot_convert_is_a_conversion_refusal_on_the_cpu(core):
    custom = onnx.shape_inference.infer_shapes(
        onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17, "my.domain" : 1]>
        g (float[2] x) => (float[2] h, float[2] y) {
          h = my.domain.Mystery (x)
          y = Relu (x)
        }
    """)
    )
    mystery, relu = device_capability(core, "CPU", {}).support(custom, GraphIndex.build(custom))
    assert (mystery.ok, mystery.source) == (False, "conversion") and "my.domain.Mystery" in mystery.reason
    assert (relu.ok, relu.source) == (True, "live-query")


def test_a_bfloat16_node_stays_off_openvino_on_the_cpu(core):
    model = onnx.shape_inference.infer_shapes(
        onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2] x) => (bfloat16[2] y) {
          y = Cast <to = 16> (x)
        }
    """)
    )
    (cast,) = device_capability(core, "CPU", {}).support(model, GraphIndex.build(model))
    assert (cast.ok, cast.source) == (False, "conversion") and "BFLOAT16" in cast.reason


def test_auto_is_asked_as_the_device_it_would_pick_here(model, core):
    picked = next(d for p in ("GPU", "NPU", "CPU") for d in host_devices() if d.split(".")[0] == p)
    capability = device_capability(core, "AUTO", {})
    assert isinstance(capability, CapabilityQuery) and capability.device == picked


def test_overrides_device_beats_plugin_beats_openvino_and_forced_beats_all(model):
    index = GraphIndex.build(model)
    table = TableCapability("MYRIAD").support(model, index)
    user = {"MYRIAD": {"Sign": True, "Tan": True, "Conv": False}, "MYRIAD.1": {"Tan": False}}
    supports = apply_overrides(table, index, "MYRIAD.1", user, forced=["Relu", "Conv"])
    assert _verdicts(supports, model) == {
        "Conv": (False, "forced"),  # --force-fallback beats the user's answer
        "Sign": (True, "user"),  # the plugin's entry beats the table
        "Tan": (False, "user"),  # the device's own entry beats the plugin's
        "Relu": (False, "forced"),
        "Sigmoid": (True, "table"),  # untouched
    }


def test_read_capabilities_takes_device_op_booleans_and_refuses_anything_else(tmp_path: Path):
    path = tmp_path / "caps.json"
    path.write_text(json.dumps({"MYRIAD": {"Sign": True, "Tan": False}}))
    assert read_capabilities(path) == {"MYRIAD": {"Sign": True, "Tan": False}}
    for text, message in [
        ('{"MYRIAD": {"Sign": 1}}', "expected"),
        ('{"MYRIAD": ["Sign"]}', "expected"),
        ("[]", "expected"),
        ("{not json", "cannot read it as JSON"),
    ]:
        path.write_text(text)
        with pytest.raises(UsageError, match=message):
            read_capabilities(path)
    with pytest.raises(UsageError, match="cannot read it as JSON"):
        read_capabilities(tmp_path / "missing.json")


def test_a_node_the_frontend_cannot_convert_says_what_the_frontend_said(tmp_path):
    """An STFT of dynamic length is not an op OpenVINO lacks: its frontend wants a static signal. The reason says
    so, and the fallback computes it as onnxruntime does."""
    import onnxruntime
    from onnx import TensorProto, helper

    import ovaot

    graph = helper.make_graph(
        [
            helper.make_node("Relu", ["audio"], ["signal"]),
            helper.make_node("STFT", ["signal", "step", "window", "length"], ["spectrum"], onesided=1),
        ],
        "stft",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, "samples", 1])],
        [helper.make_tensor_value_info("spectrum", TensorProto.FLOAT, [1, None, 9, 2])],
        [
            helper.make_tensor("step", TensorProto.INT64, [], [8]),
            helper.make_tensor("window", TensorProto.FLOAT, [16], np.hanning(16).tolist()),
            helper.make_tensor("length", TensorProto.INT64, [], [16]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    result = ovaot.compile(model, "CPU", tmp_path / "stft.ovpkg")
    (stft,) = [n for p in result.manifest.partitions for n in p.nodes if n.op_type == "STFT"]
    assert "Shape of signal input must be static" in stft.reason, stft.reason
    session = ovaot.load(tmp_path / "stft.ovpkg")
    reference = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for samples in (64, 101):
        audio = np.random.default_rng(samples).standard_normal((1, samples, 1)).astype(np.float32)
        np.testing.assert_allclose(
            session.run(None, {"audio": audio})[0],
            reference.run(None, {"audio": audio})[0],
            rtol=1e-4,
            atol=1e-4,
        )
