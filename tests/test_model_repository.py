"""`ovaot export`: a package as a model repository for OpenVINO Model Server or Triton's OpenVINO backend."""

from __future__ import annotations

import json

import numpy as np
import onnx
import openvino as ov
import pytest
from click.testing import CliRunner

import ovaot
from ovaot.cli import EXIT_FAILED, main

from helpers import EXAMPLES, LIGHT_DIR, with_random_weights


def _export(package, fmt, repository, *extra):
    return CliRunner().invoke(main, ["export", str(package), "--format", fmt, "-o", str(repository), *extra])


def _same_as_the_package(xml, package, feed) -> None:
    """The exported IR, read and compiled by OpenVINO as a server would, gives what ovaot.load gives."""
    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(xml)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    served = compiled.create_infer_request().infer(feed)
    for port, want in zip(compiled.outputs, ovaot.load(package).run(None, feed)):
        np.testing.assert_allclose(served[port], want, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def squeezenet(tmp_path_factory):
    folder = tmp_path_factory.mktemp("squeezenet")
    model = with_random_weights(onnx.load(LIGHT_DIR / "light_squeezenet.onnx"), seed=3)
    ovaot.compile(model, "CPU_FP32", folder / "squeezenet.ovpkg", provider={"performance_hint": "LATENCY"})
    weights = {t.name for t in model.graph.initializer}
    [name] = [i.name for i in model.graph.input if i.name not in weights]
    feed = {name: np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    return folder / "squeezenet.ovpkg", feed


@pytest.mark.slow
def test_ovms_repository_holds_the_ir_and_a_config_entry(tmp_path, squeezenet):
    package, feed = squeezenet
    result = _export(package, "ovms", tmp_path / "repo", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["device"] == "CPU"
    tiny = tmp_path / "tiny.ovpkg"
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", tiny)
    assert _export(tiny, "ovms", tmp_path / "repo", "--name", "tiny", "--version", "3").exit_code == 0
    config = json.loads((tmp_path / "repo" / "config.json").read_text())
    entries = {e["config"]["name"]: e["config"] for e in config["model_config_list"]}
    assert set(entries) == {"squeezenet", "tiny"}  # a second export adds its entry, keeping the first
    assert entries["squeezenet"]["base_path"] == "squeezenet" and entries["squeezenet"]["target_device"] == "CPU"
    assert entries["squeezenet"]["plugin_config"] == {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
    assert (tmp_path / "repo" / "tiny" / "3" / "model.bin").is_file()
    _same_as_the_package(tmp_path / "repo" / "squeezenet" / "1" / "model.xml", package, feed)


@pytest.mark.slow
def test_triton_repository_has_a_config_its_schema_accepts(tmp_path, squeezenet):
    package, feed = squeezenet
    assert _export(package, "triton", tmp_path / "repo").exit_code == 0
    text = (tmp_path / "repo" / "squeezenet" / "config.pbtxt").read_text()
    assert 'backend: "openvino"' in text and 'string_value: "LATENCY"' in text
    model_config = pytest.importorskip(
        "tritonclient.grpc.model_config_pb2", reason="tritonclient (ovaot[serve]) absent"
    )
    from google.protobuf import text_format

    config = text_format.Parse(text, model_config.ModelConfig())
    assert config.name == "squeezenet" and config.backend == "openvino" and config.max_batch_size == 0
    assert [list(i.dims) for i in config.input] == [[1, 3, 224, 224]]
    assert model_config.DataType.Name(config.input[0].data_type) == "TYPE_FP32"
    _same_as_the_package(tmp_path / "repo" / "squeezenet" / "1" / "model.xml", package, feed)


def test_a_package_with_a_fallback_is_refused_with_a_pointer_to_serve(tmp_path):
    package = tmp_path / "split.ovpkg"
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", package, force_fallback=["Relu"])
    result = _export(package, "ovms", tmp_path / "repo")
    assert result.exit_code == EXIT_FAILED
    assert "numpy fallback" in result.output and "ovaot serve" in result.output
    assert not (tmp_path / "repo").exists()


def test_a_package_without_ir_is_refused(tmp_path):
    package = tmp_path / "noir.ovpkg"
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", package, portable_ir=False)
    result = _export(package, "triton", tmp_path / "repo")
    assert result.exit_code == EXIT_FAILED and "--no-ir" in result.output


@pytest.mark.slow
def test_a_myriad_package_exports_its_successor_for_ovms_and_the_cpu_plan_for_triton(tmp_path):
    package = tmp_path / "tiny.ovpkg"
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "MYRIAD_FP16", package)
    ovms = json.loads(_export(package, "ovms", tmp_path / "ovms", "--json").output)
    assert ovms["device"] == "NPU" and "MYRIAD left OpenVINO" in ovms["notes"][0]
    triton = json.loads(_export(package, "triton", tmp_path / "triton", "--json").output)
    assert triton["device"] == "CPU"
    x = np.load(EXAMPLES / "tiny_cnn_input.npy")
    _same_as_the_package(tmp_path / "triton" / "tiny" / "1" / "model.xml", package, {"image": x})
