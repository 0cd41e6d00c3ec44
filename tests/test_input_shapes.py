"""--input-shape: fixed or bounded input dimensions, applied before capability and partitioning, recorded, and
checked by the loader."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import ovaot
from ovaot.cli import main
from ovaot.compiler.input_shapes import parse_shape
from ovaot.errors import InputError, UsageError

from helpers import EXAMPLES, compile_and_load


def _dynamic_mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(4)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("ReduceSum", ["r", "axes"], ["y"], keepdims=0),
        ],
        "dynamic_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8])],
        [
            numpy_helper.from_array(rng.standard_normal((16, 8)).astype(np.float32), "w"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_parse_shape_reads_sizes_dynamic_and_bounds():
    assert parse_shape("[1, 3,224,224]") == (1, 3, 224, 224)
    assert parse_shape("[?,3,1..8]") == (None, 3, (1, 8))
    for wrong in ("1,3", "[0,3]", "[8..1]", "[a]"):
        with pytest.raises(UsageError, match="--input-shape"):
            parse_shape(wrong, "x")


def test_static_shapes_reach_openvino_and_the_manifest(tmp_path):
    model = _dynamic_mlp()
    result, session = compile_and_load(model, tmp_path, input_shapes={"x": "[2,5,16]"})
    [x] = result.manifest.inputs
    assert x.shape == [2, 5, 16] and result.manifest.options["input_shapes"] == {"x": "[2,5,16]"}
    assert [p.shape for p in session._runners[0].compiled.inputs] == [(2, 5, 16)]  # compiled static
    feed = {"x": np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float32)}
    np.testing.assert_allclose(session.run(None, feed)[0], ReferenceEvaluator(model).run(None, feed)[0], rtol=1e-5)
    with pytest.raises(InputError, match=r"must have shape \[2, 5, 16\]"):
        session.run(None, {"x": np.zeros((3, 5, 16), np.float32)})


def test_bounded_dimensions_are_bounds_for_openvino_and_the_loader(tmp_path):
    model = _dynamic_mlp()
    result, session = compile_and_load(model, tmp_path, input_shapes={"x": "[1..4,?,16]"})
    assert result.manifest.inputs[0].shape == ["1..4", "tokens", 16]
    for batch, tokens in ((1, 3), (4, 9)):
        feed = {"x": np.random.default_rng(batch).standard_normal((batch, tokens, 16)).astype(np.float32)}
        np.testing.assert_allclose(session.run(None, feed)[0], ReferenceEvaluator(model).run(None, feed)[0], rtol=1e-5)
    with pytest.raises(InputError, match=r"dimension 0 is 5, expected 1\.\.4"):
        session.run(None, {"x": np.zeros((5, 2, 16), np.float32)})


def test_a_shape_the_model_contradicts_is_one_clear_error(tmp_path):
    runner = CliRunner()
    command = ["compile", str(EXAMPLES / "tiny_cnn.onnx"), "-t", "CPU_FP32", "-o", str(tmp_path / "m.ovpkg")]
    for shape, message in (
        ("image=[1,3,28,28]", "dimension 1 of 'image' is 1 in the model"),
        ("picture=[1,1,28,28]", "has no input 'picture'"),
        ("image=[1,28,28]", "has rank 4"),
        ("image", "NAME=[d0,d1,...]"),
    ):
        result = runner.invoke(main, [*command, "--input-shape", shape])
        assert result.exit_code != 0 and message in result.output, result.output
        assert not (tmp_path / "m.ovpkg").exists()
    ok = runner.invoke(main, [*command, "--input-shape", "image=[1,1,28,28]"])
    assert ok.exit_code == 0, ok.output
    assert ovaot.load(tmp_path / "m.ovpkg").get_inputs()[0].shape == [1, 1, 28, 28]


@pytest.mark.parametrize("target", ["MYRIAD_FP16", "VAD-M_FP16", "NPU", "HETERO:MYRIAD,CPU"])
def test_static_only_devices_get_static_shapes_the_model_left_dynamic(target, tmp_path, caplog):
    """MYRIAD, HDDL and NPU compile static shapes only: what the model leaves dynamic becomes 1, with a warning
    that names it; --input-shape chooses other sizes and may not leave a dimension dynamic."""
    model = _dynamic_mlp()
    with caplog.at_level("WARNING"):
        result, session = compile_and_load(model, tmp_path, target=target)
    assert result.manifest.inputs[0].shape == [1, 1, 16]
    assert f"{target} compiles static shapes only: 'x' dimension 0 (batch) -> 1, 'x' dimension 1 (tokens) -> 1" in (
        caplog.text
    )
    feed = {"x": np.random.default_rng(2).standard_normal((1, 1, 16)).astype(np.float32)}
    np.testing.assert_allclose(session.run(None, feed)[0], ReferenceEvaluator(model).run(None, feed)[0], rtol=2e-2)
    with pytest.raises(InputError, match=r"must have shape \[1, 1, 16\]"):
        session.run(None, {"x": np.zeros((2, 1, 16), np.float32)})
    sized, session = compile_and_load(model, tmp_path / "sized", target=target, input_shapes={"x": "[3,4,16]"})
    assert sized.manifest.inputs[0].shape == [3, 4, 16]
    feed = {"x": np.random.default_rng(3).standard_normal((3, 4, 16)).astype(np.float32)}
    np.testing.assert_allclose(session.run(None, feed)[0], ReferenceEvaluator(model).run(None, feed)[0], rtol=2e-2)
    for shape in ("[?,4,16]", "[1..4,4,16]"):
        with pytest.raises(
            UsageError, match=f"{target} compiles static shapes only, and dimension 0 of 'x' is dynamic"
        ):
            ovaot.compile(model, target, tmp_path / "refused.ovpkg", input_shapes={"x": shape})
    assert not (tmp_path / "refused.ovpkg").exists()


def test_other_targets_keep_the_dimensions_dynamic(tmp_path):
    result, _ = compile_and_load(_dynamic_mlp(), tmp_path, target="CPU_FP32")
    assert result.manifest.inputs[0].shape == ["batch", "tokens", 16]
