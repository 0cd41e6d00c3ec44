"""The compiler's pieces: CompileOptions, the pure planning step, the build fixpoint, one exporter."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import ovaot
from ovaot.codegen.export_worker import ExportJob, ExportWorker, InProcessExporter
from ovaot.compiler import CompileOptions
from ovaot.compiler.capability import Support
from ovaot.compiler.graph import GraphIndex
from ovaot.compiler.planning import FALLBACK, PlanSpec, draft
from ovaot.engines import ov_c
from ovaot.options import ProviderOptions

from helpers import EXAMPLES

CHAIN = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[2, 3] x) => (float[2, 3] y) {
  a = Relu (x)
  b = Sigmoid (a)
  c = Neg (b)
  y = Abs (c)
}
"""


def test_options_are_normalised_once_and_frozen(tmp_path: Path):
    caps = tmp_path / "caps.json"
    caps.write_text(json.dumps({"MYRIAD": {"Sign": True}}))
    options = CompileOptions(
        force_fallback=["Relu", "Relu", "Sign"],
        capabilities=caps,
        opt_level="extended",
        sample_inputs={"x": np.zeros((2, 3), np.float32)},
        provider={"num_of_threads": "2"},
    )
    assert options.force_fallback == ("Relu", "Sign")
    assert options.capabilities == {"MYRIAD": {"Sign": True}}
    assert options.opt_level == 2
    assert options.validate, "sample inputs turn validation on, as --sample-input does"
    assert options.provider == ProviderOptions(num_of_threads=2)
    with pytest.raises(FrozenInstanceError):
        options.validate = False  # type: ignore[misc]


def test_overrides_take_option_names_and_ep_options_apart():
    base = CompileOptions(opt_level="basic", provider=ProviderOptions(num_of_threads=2))
    options = CompileOptions.of(base, validate_edge_values=True, num_streams=1)
    assert options.opt_level == 1 and options.validate and options.validate_edge_values
    assert options.provider == ProviderOptions(num_of_threads=2, num_streams=1)
    assert base.provider == ProviderOptions(num_of_threads=2)  # the base is untouched
    with pytest.raises(ovaot.UsageError, match=r"unknown option 'valdate' \(did you mean 'validate'\?\)"):
        CompileOptions.of(base, valdate=True)


def test_compile_takes_an_options_value_and_the_cli_gives_the_same_package(tmp_path: Path):
    import subprocess
    import sys

    options = CompileOptions(force_fallback=("Relu",), opt_level="basic")
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", tmp_path / "api.ovpkg", options)
    command = [sys.executable, "-m", "ovaot", "compile", str(EXAMPLES / "tiny_cnn.onnx"), "-t", "CPU_FP32"]
    command += ["-o", str(tmp_path / "cli.ovpkg"), "--force-fallback", "Relu", "-O1"]
    subprocess.run(command, check=True, capture_output=True)
    assert (tmp_path / "api.ovpkg").read_bytes() == (tmp_path / "cli.ovpkg").read_bytes()


def _supports(index: GraphIndex, unsupported: set[str]) -> dict[str, list[Support]]:
    return {
        "CPU": [
            Support(n.op_type not in unsupported, "" if n.op_type not in unsupported else "no", "live-query")
            for n in index.nodes
        ]
    }


def test_drafting_a_plan_is_pure_and_sends_refused_nodes_to_the_fallback():
    model = onnx.parser.parse_model(CHAIN)
    index = GraphIndex.build(model)
    spec = PlanSpec("target", "single", ["CPU"])
    supports = _supports(index, unsupported={"Neg"})
    first = draft(spec, index, supports, refused={})
    assert [(g.label, len(g.node_ids)) for g in first.groups] == [("CPU", 2), (FALLBACK, 1), ("CPU", 1)]
    assert first == draft(spec, index, supports, refused={})  # a value: the same inputs give the same plan
    refusal = {0: Support(False, "OpenVINO cannot build it", "conversion")}
    second = draft(spec, index, supports, refused=refusal)
    assert [(g.label, len(g.node_ids)) for g in second.groups] == [
        (FALLBACK, 1),
        ("CPU", 1),
        (FALLBACK, 1),
        ("CPU", 1),
    ]
    assert second.decided[0] == (FALLBACK, refusal[0])


def test_a_node_openvino_refuses_at_build_time_goes_to_the_fallback(tmp_path: Path):
    """Dropout in inference is a pass-through OpenVINO renames: the build refuses it; the plan is redone."""
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2, 3] x) => (float[2, 3] y, float[2, 3] z) {
          y = Relu (x)
          z = Dropout (x)
        }
    """)
    result = ovaot.compile(model, "CPU_FP32", tmp_path / "m.ovpkg")
    placed = {n.op_type: (p.kind, n.source) for p in result.manifest.partitions for n in p.nodes}
    assert placed["Relu"] == ("openvino", "live-query")
    assert placed["Dropout"] == ("fallback", "conversion")
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    want = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"x": x}
    )
    for got, expected in zip(ovaot.load(tmp_path / "m.ovpkg").run(None, {"x": x}), want):
        np.testing.assert_allclose(got, expected)


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> ExportJob:
    """tiny_cnn's IR, as the compiler makes it, for the CPU."""
    import openvino as ov

    folder = tmp_path_factory.mktemp("ir")
    ov.save_model(ov.Core().read_model(str(EXAMPLES / "tiny_cnn.onnx")), str(folder / "m.xml"), compress_to_fp16=False)
    config = {"INFERENCE_PRECISION_HINT": "f32"}  # as CPU_FP32 asks; the CPU's default may be lower
    return ExportJob(folder / "m.xml", folder / "m.bin", "CPU", config)


def _run(blob: Path) -> np.ndarray:
    compiled = ov_c.Core().import_model(blob.read_bytes(), "CPU")
    return compiled.create_infer_request().infer([np.load(EXAMPLES / "tiny_cnn_input.npy")])[0]


def test_one_export_in_a_worker_or_in_process(job: ExportJob, tmp_path: Path):
    worker = ExportWorker(tmp_path)
    worker.submit([job])
    (in_worker,) = worker.collect()
    in_process = InProcessExporter(tmp_path)
    in_process.submit([job])
    (here,) = in_process.collect()
    assert in_worker.precision == here.precision and not in_worker.error and not here.error
    image = np.load(EXAMPLES / "tiny_cnn_input.npy")
    want = onnxruntime.InferenceSession(str(EXAMPLES / "tiny_cnn.onnx")).run(None, {"image": image})[0]
    np.testing.assert_allclose(_run(in_worker.blob), want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(_run(here.blob), want, rtol=1e-4, atol=1e-6)


def test_an_export_openvino_refuses_is_a_result_not_an_exception(job: ExportJob, tmp_path: Path):
    (tmp_path / "bad.xml").write_text("<net/>")
    (tmp_path / "bad.bin").write_bytes(b"")
    bad = ExportJob(tmp_path / "bad.xml", tmp_path / "bad.bin", "CPU", {})
    for exporter in (ExportWorker(tmp_path), InProcessExporter(tmp_path)):
        exporter.submit([bad, job])
        results = exporter.collect()
        assert len(results) == 1 and results[0].error and not results[0].blob  # it stops at the refusal
