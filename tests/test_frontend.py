"""Loading, checking and normalising models: external data, IR<4 initializer inputs, Constant nodes, names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import helper, numpy_helper

from ovaot.compiler import frontend
from ovaot.errors import ModelError
from ovaot.passes.weights import MARK

from helpers import compile_and_load


def _ir3_model_with_initializer_inputs() -> onnx.ModelProto:
    rng = np.random.default_rng(11)
    w = numpy_helper.from_array(rng.standard_normal((4, 4)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal((4,)).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["g"]), helper.make_node("Relu", ["g"], ["y"])],
        "ir3",
        inputs=[
            helper.make_tensor_value_info("w", onnx.TensorProto.FLOAT, [4, 4]),
            helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 4]),
            helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, [4]),
        ],
        outputs=[helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2, 4])],
        initializer=[w, b],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=3)


def test_ir3_initializer_inputs_become_constants_and_the_signature_stays(tmp_path: Path):
    model = _ir3_model_with_initializer_inputs()
    _, session = compile_and_load(model, tmp_path)
    assert [i.name for i in session.get_inputs()] == ["x"]
    assert [o.name for o in session.get_outputs()] == ["y"]
    x = np.random.default_rng(12).standard_normal((2, 4)).astype(np.float32)
    (want,) = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)


def test_external_data_is_loaded(tmp_path: Path):
    model = _ir3_model_with_initializer_inputs()
    model.ir_version = 8
    del model.graph.input[0]
    del model.graph.input[1]
    source = tmp_path / "src" / "model.onnx"
    source.parent.mkdir()
    onnx.save(
        model,
        source,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    assert (source.parent / "weights.bin").is_file()
    _, session = compile_and_load(source, tmp_path)
    x = np.ones((2, 4), np.float32)
    (want,) = onnxruntime.InferenceSession(str(source)).run(None, {"x": x})
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
    (source.parent / "weights.bin").unlink()
    with pytest.raises(ModelError, match="external data"):
        frontend.load_model(source)


def test_a_text_format_model_with_external_weights_loads_and_its_weights_count_in_the_digest(tmp_path: Path):
    model = _ir3_model_with_initializer_inputs()
    model.ir_version = 8
    del model.graph.input[0]
    del model.graph.input[1]
    source = tmp_path / "model.textproto"  # onnx.load reads text by the extension; the C++ checker cannot
    saved = onnx.ModelProto()
    saved.CopyFrom(model)  # saving with external data rewrites the tensors it is given
    onnx.save(saved, source, save_as_external_data=True, location="weights.bin", size_threshold=0)
    _, session = compile_and_load(source, tmp_path)
    x = np.ones((2, 4), np.float32)
    (want,) = onnxruntime.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)
    before = frontend.source_digest(source)
    weights = bytearray((tmp_path / "weights.bin").read_bytes())
    weights[0] ^= 1
    (tmp_path / "weights.bin").write_bytes(bytes(weights))
    assert frontend.source_digest(source) != before


@pytest.mark.parametrize("stored", ["inside", "external", "text", "entry left behind", "file named as the mark"])
def test_the_digest_taken_while_the_model_is_read_is_the_up_to_date_checks(tmp_path: Path, stored: str):
    """read_checked hashes the file while it reads it and adds external data files only where the model may name
    some; the up-to-date check hashes without reading: both must give one digest, which the weights change."""
    weights = np.random.default_rng(3).standard_normal((40, 40)).astype(np.float32)  # set aside: 6.4 kB
    initializer = numpy_helper.from_array(weights, "w")
    if stored == "entry left behind":  # stored inside, with an external data entry a tool left (the digest counts it)
        initializer.external_data.add(key="location", value="weights.bin")
        (tmp_path / "weights.bin").write_bytes(b"stale")
    model = helper.make_model(
        helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 40])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 40])],
            [initializer],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    source = tmp_path / ("model.textproto" if stored == "text" else "model.onnx")
    location = MARK if stored == "file named as the mark" else "weights.bin"
    external = stored in ("external", "text", "file named as the mark")
    onnx.save(model, source, save_as_external_data=external, location=location, size_threshold=0)
    read = frontend.read_checked(source)
    assert read.source_digest == frontend.source_digest(source)
    loaded = frontend.load_model(source)  # the weights are where they were said to be
    np.testing.assert_array_equal(numpy_helper.to_array(loaded.model.graph.initializer[0]), weights)
    changed = tmp_path / (location if external else source.name)
    data = bytearray(changed.read_bytes())
    at = data.find(weights.tobytes())
    assert at >= 0
    data[at] ^= 1
    changed.write_bytes(bytes(data))
    assert frontend.read_checked(source).source_digest == frontend.source_digest(source) != read.source_digest


def test_constant_nodes_become_initializers_and_nodes_get_unique_names():
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[3] x) => (float[3] y) {
          k = Constant <value_floats = [1.0, 2.0, 3.0]> ()
          a = Add (x, k)
          y = Mul (a, k)
        }
    """)
    model.graph.node[1].name = model.graph.node[2].name = "same"
    loaded = frontend.load_model(model).model
    assert [n.op_type for n in loaded.graph.node] == ["Add", "Mul"]
    assert [t.name for t in loaded.graph.initializer] == ["k"]
    names = [n.name for n in loaded.graph.node]
    assert len(set(names)) == 2 and all(names)
    assert names == [n.name for n in frontend.load_model(model).model.graph.node]


def test_source_hash_identifies_the_model():
    model = _ir3_model_with_initializer_inputs()
    first = frontend.load_model(model).source_digest
    assert frontend.load_model(model).source_digest == first
    weight = numpy_helper.to_array(model.graph.initializer[0]).copy()
    weight[0, 0] += 1.0
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(weight, "w"))
    assert frontend.load_model(model).source_digest != first
