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
