"""The fallback's own dependencies: ops whose onnx.reference kernel imports an optional module (ImageDecoder: Pillow).

They are declared as ovaot extras; loading a package that needs a missing one fails with one error naming the
extra, and compiling it only warns (the package may run on another host).
"""

from __future__ import annotations

import importlib.metadata
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ovaot
from ovaot.engines.reference_requirements import REQUIREMENTS, unmet_requirements

from helpers import compile_and_load

# A few of onnx's ImageDecoder node tests, not all nine: each format is Pillow's own decoder either way.
CASES = ["test_image_decoder_decode_jpeg_rgb", "test_image_decoder_decode_png_rgb", "test_image_decoder_decode_bmp_rgb"]


def _image_decoder_case(name: str) -> tuple[onnx.ModelProto, list, list]:
    """onnx's ImageDecoder node test `name`: its model, inputs and expected outputs. Made by calling the case's
    own generator with `expect` caught, not by collecting all 1,884 cases (10 s)."""
    from onnx.backend.test.case.node import image_decoder

    caught = []
    generator = getattr(image_decoder.ImageDecoder, name.replace("test_", "export_", 1))
    original, image_decoder.expect = (
        image_decoder.expect,
        lambda node, inputs, outputs, name: caught.append((node, inputs, outputs)),
    )
    try:
        generator()
    finally:
        image_decoder.expect = original
    ((node, inputs, outputs),) = caught

    def info(names, arrays):
        return [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
            for n, a in zip(names, arrays, strict=True)
        ]

    graph = helper.make_graph([node], name, info(node.input, inputs), info(node.output, outputs))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), inputs, outputs


def _image_decoder_model() -> onnx.ModelProto:
    """One ImageDecoder node, built by hand so that making it needs no Pillow."""
    node = helper.make_node("ImageDecoder", ["data"], ["image"], pixel_format="RGB")
    graph = helper.make_graph(
        [node],
        "decode",
        [helper.make_tensor_value_info("data", TensorProto.UINT8, ["bytes"])],
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["height", "width", 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


@pytest.mark.parametrize("name", CASES)
def test_image_decoder_runs_in_the_fallback_as_onnx_expects(name: str, tmp_path: Path):
    pytest.importorskip("PIL", reason="Pillow (ovaot[image]) runs ImageDecoder in the fallback")
    model, inputs, expected = _image_decoder_case(name)
    result, session = compile_and_load(model, tmp_path)
    placed = [(p.kind, n.op_type) for p in result.manifest.partitions for n in p.nodes]
    assert ("fallback", "ImageDecoder") in placed
    feed = {value.name: array for value, array in zip(model.graph.input, inputs, strict=True)}
    for got, want in zip(session.run(None, feed), expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_loading_without_pillow_is_one_error_that_names_the_extra(tmp_path: Path):
    package = tmp_path / "decode.ovpkg"
    ovaot.compile(_image_decoder_model(), "CPU_FP32", package)
    # Without the check, load succeeds and run raises ImportError from inside onnx.reference's ImageDecoder.
    script = f"""
import sys, numpy as np
sys.modules["PIL"] = None  # Pillow cannot be imported
import ovaot
session = ovaot.load({str(package)!r})
session.run(None, {{"data": np.zeros(8, np.uint8)}})
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "ovaot.errors.PackageError: partition 0 runs ImageDecoder in the numpy fallback, which needs Pillow: "
        "pip install 'ovaot[image]'"
    ), done.stderr
    assert done.stderr.count("Traceback") == 1, done.stderr  # one error, chained to no ImportError
    assert "onnx/reference" not in done.stderr, done.stderr


def test_compiling_without_pillow_warns_and_builds_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with caplog.at_level(logging.WARNING, logger="ovaot.codegen.fallback"):
        result = ovaot.compile(_image_decoder_model(), "CPU_FP32", tmp_path / "m.ovpkg")
    assert [p.kind for p in result.manifest.partitions] == ["fallback"]
    assert any("Pillow" in r.getMessage() and "ovaot[image]" in r.getMessage() for r in caplog.records), caplog.text


def test_a_requirement_inside_a_subgraph_is_found(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    body = _image_decoder_model().graph
    branch = helper.make_node("If", ["cond"], ["image"], then_branch=body, else_branch=body)
    assert unmet_requirements([branch]) == (
        "runs ImageDecoder in the numpy fallback, which needs Pillow: pip install 'ovaot[image]'"
    )
    monkeypatch.setitem(sys.modules, "PIL", object())  # as if imported already
    assert unmet_requirements([branch]) == ""


def test_every_requirement_is_a_declared_extra():
    metadata = importlib.metadata.metadata("ovaot")
    extras = set(metadata.get_all("Provides-Extra") or [])
    requires = [r.replace(" ", "").lower() for r in metadata.get_all("Requires-Dist") or []]
    for requirement in REQUIREMENTS.values():
        assert requirement.extra in extras
        assert any(
            r.startswith(requirement.package.lower()) and f'extra=="{requirement.extra}"' in r for r in requires
        ), requires
