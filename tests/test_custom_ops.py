"""Custom operators: a user's numpy kernel runs in the fallback; a package never carries code."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx.reference.op_run import OpRun

import ovaot
from ovaot.errors import CompileError

MODEL = """
<ir_version: 8, opset_import: ["" : 17, "my.ops" : 1]>
g (float[2, 5] x) => (float[2, 5] y) {
  a = Relu (x)
  b = my.ops.ScaledSwish <beta = 2.0> (a)
  y = Tanh (b)
}
"""


def scaled_swish(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    return x / (1.0 + np.exp(-beta * x))


def expected(x: np.ndarray) -> np.ndarray:
    return np.tanh(scaled_swish(np.maximum(x, 0), 2.0))


def test_unregistered_custom_op_is_a_clear_compile_error(tmp_path: Path):
    model = onnx.parser.parse_model(MODEL.replace("ScaledSwish", "NotRegistered"))
    with pytest.raises(CompileError, match=r"my\.ops\.NotRegistered.*ovaot\.register_op"):
        ovaot.compile(model, "CPU_FP32", tmp_path / "m.ovpkg")
    assert not (tmp_path / "m.ovpkg").exists()


def test_registered_function_runs_in_the_fallback(tmp_path: Path):
    ovaot.register_op("my.ops", "ScaledSwish", scaled_swish)
    model = onnx.parser.parse_model(MODEL)
    result = ovaot.compile(model, "CPU_FP32", tmp_path / "m.ovpkg")
    placement = {n.op_type: p.kind for p in result.manifest.partitions for n in p.nodes}
    assert placement["ScaledSwish"] == "fallback" and placement["Relu"] == "openvino"
    # the op after it is typed by a seeded run (no schema types a custom op's output), so OpenVINO is asked
    assert placement["Tanh"] == "openvino"
    x = np.random.default_rng(9).standard_normal((2, 5)).astype(np.float32)
    np.testing.assert_allclose(ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x})[0], expected(x), rtol=1e-5)

    # The package names the op and holds no code; another process must register the kernel itself.
    with zipfile.ZipFile(tmp_path / "m.ovpkg") as archive:
        assert not any(name.endswith((".py", ".pkl", ".pickle")) for name in archive.namelist())
    script = f"import ovaot; ovaot.load({str(tmp_path / 'm.ovpkg')!r})"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "custom op my.ops.ScaledSwish, which is not registered" in done.stderr


def test_an_oprun_subclass_can_be_registered(tmp_path: Path):
    class ScaledSwish(OpRun):
        def _run(self, x, beta=1.0):
            return (scaled_swish(x, beta),)

    ovaot.register_op("my.ops", "ScaledSwish", ScaledSwish)
    x = np.random.default_rng(10).standard_normal((2, 5)).astype(np.float32)
    ovaot.compile(onnx.parser.parse_model(MODEL), "CPU_FP32", tmp_path / "m.ovpkg")
    np.testing.assert_allclose(ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x})[0], expected(x), rtol=1e-5)


SEQUENCE_MODEL = """
<ir_version: 8, opset_import: ["" : 17, "my.ops" : 1]>
g (float[2, 3] x) => (float[6, 3] y) {
  parts = my.ops.Multiples (x)
  y = ConcatFromSequence <axis = 0> (parts)
}
"""


def test_a_list_from_a_one_output_node_is_that_output_a_sequence(tmp_path: Path):
    ovaot.register_op("my.ops", "Multiples", lambda x: [x, 2 * x, 3 * x])
    x = np.random.default_rng(11).standard_normal((2, 3)).astype(np.float32)
    ovaot.compile(onnx.parser.parse_model(SEQUENCE_MODEL), "CPU_FP32", tmp_path / "m.ovpkg")
    (y,) = ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x})
    np.testing.assert_allclose(y, np.concatenate([x, 2 * x, 3 * x]), rtol=1e-6)


def test_a_list_of_dicts_is_one_output(tmp_path: Path):
    """What skl2onnx's ZipMap gives: one output, a sequence of {label: probability} maps."""
    node = onnx.helper.make_node("LabelledRows", ["x"], ["rows"], domain="my.ops")
    row_type = onnx.helper.make_map_type_proto(onnx.TensorProto.INT64, onnx.helper.make_tensor_type_proto(1, []))
    graph = onnx.helper.make_graph(
        [node],
        "zipmap_like",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [3, 2])],
        [onnx.helper.make_value_info("rows", onnx.helper.make_sequence_type_proto(row_type))],
    )
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", 17), onnx.helper.make_opsetid("my.ops", 1)]
    )
    ovaot.register_op("my.ops", "LabelledRows", lambda x: [{0: float(a), 1: float(b)} for a, b in x])
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    ovaot.compile(model, "CPU_FP32", tmp_path / "m.ovpkg")
    (rows,) = ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x})
    assert rows == [{0: 0.0, 1: 1.0}, {0: 2.0, 1: 3.0}, {0: 4.0, 1: 5.0}]


TWO_OUTPUTS = """
<ir_version: 8, opset_import: ["" : 17, "my.ops" : 1]>
g (float[4] x) => (float[4] lo, float[4] hi) {
  lo, hi = my.ops.Bounds (x)
}
"""


def test_a_tuple_gives_a_node_its_several_outputs(tmp_path: Path):
    ovaot.register_op("my.ops", "Bounds", lambda x: (x - 1, x + 1))
    x = np.arange(4, dtype=np.float32)
    ovaot.compile(onnx.parser.parse_model(TWO_OUTPUTS), "CPU_FP32", tmp_path / "m.ovpkg")
    lo, hi = ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x})
    np.testing.assert_array_equal(lo, x - 1)
    np.testing.assert_array_equal(hi, x + 1)


@pytest.mark.parametrize(
    ("source", "kernel", "message"),
    [
        (TWO_OUTPUTS, lambda x: x, r"my\.ops\.Bounds returned one ndarray, but the node has 2 outputs"),
        (TWO_OUTPUTS, lambda x: [x, x], r"my\.ops\.Bounds returned one list, but the node has 2 outputs"),
        (
            MODEL.replace("ScaledSwish", "Bounds"),
            lambda x, beta: (x, x),
            r"a tuple of 2 values, but the node has 1 output:",
        ),
    ],
)
def test_a_kernel_that_returns_the_wrong_count_is_an_error_naming_the_op(source, kernel, message, tmp_path: Path):
    ovaot.register_op("my.ops", "Bounds", kernel)
    ovaot.compile(onnx.parser.parse_model(source), "CPU_FP32", tmp_path / "m.ovpkg")
    session = ovaot.load(tmp_path / "m.ovpkg")
    with pytest.raises(ovaot.OvaotError, match=message):
        session.run(None, {"x": np.ones(session.get_inputs()[0].shape, np.float32)})


def test_optional_outputs_a_node_leaves_out_are_not_counted(tmp_path: Path):
    node = onnx.helper.make_node("Bounds", ["x"], ["lo", ""], domain="my.ops")
    graph = onnx.helper.make_graph(
        [node],
        "optional_output",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
        [onnx.helper.make_tensor_value_info("lo", onnx.TensorProto.FLOAT, [4])],
    )
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", 17), onnx.helper.make_opsetid("my.ops", 1)]
    )
    ovaot.register_op("my.ops", "Bounds", lambda x: x - 1)
    ovaot.compile(model, "CPU_FP32", tmp_path / "m.ovpkg")
    x = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x})[0], x - 1)


def test_ops_after_a_custom_op_are_typed_by_a_run_and_run_on_the_device(tmp_path: Path):
    ovaot.register_op("my.ops", "ScaledSwish", scaled_swish)
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "my.ops" : 1]>
        g (float[1, 3, 4, 5] x) => (float[1, 4, 5, 3] y) {
          b = my.ops.ScaledSwish <beta = 2.0> (x)
          c = Transpose <perm = [0, 2, 3, 1]> (b)
          s = Shape (c)
          r = Reshape (c, s)
          y = Tanh (r)
        }
        """
    )
    result = ovaot.compile(model, "CPU_FP32", tmp_path / "m.ovpkg")
    placement = {n.op_type: (p.kind, n.reason) for p in result.manifest.partitions for n in p.nodes}
    for op in ("Transpose", "Shape", "Reshape", "Tanh"):
        assert placement[op][0] == "openvino", placement[op]
    x = np.random.default_rng(3).standard_normal((1, 3, 4, 5)).astype(np.float32)
    want = np.tanh(scaled_swish(x, 2.0).transpose(0, 2, 3, 1))
    np.testing.assert_allclose(ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x})[0], want, rtol=1e-5)
