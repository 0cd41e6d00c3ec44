"""The export worker: blobs compiled in a fresh process, a refused job reported, not fatal; both export paths
give packages that compute what onnxruntime computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import openvino as ov
import pytest

import ovaot
from ovaot.codegen import export_worker
from ovaot.codegen.export_worker import ExportJob, ExportWorker
from ovaot.codegen.openvino import convert_partition, save_ir
from ovaot.errors import CompileError

from helpers import EXAMPLES
from zoo import lstm_sequence

MODEL = EXAMPLES / "tiny_cnn.onnx"
F32 = {"INFERENCE_PRECISION_HINT": "f32"}


def test_a_refused_job_is_reported_and_ends_the_list():
    core = ov.Core()
    xml, weights = save_ir(convert_partition(core, lstm_sequence()), compress_to_fp16=False)
    good = ExportJob(xml, weights, "CPU", F32)
    broken = ExportJob(xml, weights, "CPU", {"NO_SUCH_PROPERTY": "1"})  # OpenVINO refuses to compile
    results = ExportWorker().export([good, broken, good])
    assert len(results) == 2
    assert results[0].blob and results[0].precision == "f32" and not results[0].error
    assert not results[1].blob and results[1].error
    # the blob computes what the model computes
    sample = np.random.default_rng(3).standard_normal((16, 1, 32)).astype(np.float32)
    model = lstm_sequence()
    want = ort.InferenceSession(model.SerializeToString()).run(None, {model.graph.input[0].name: sample})
    compiled = core.import_model(results[0].blob, "CPU", F32)
    got = compiled({model.graph.input[0].name: sample})
    for expected, name in zip(want, [o.name for o in model.graph.output]):
        np.testing.assert_allclose(got[name], expected, rtol=1e-4, atol=1e-5)


def test_a_worker_that_cannot_start_is_a_compile_error_with_its_reason(tmp_path, monkeypatch):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named ovaot' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(export_worker.sys, "executable", str(broken))
    job = ExportJob(b"<net/>", b"", "CPU", F32)
    for wait_first in (True, False):  # whether or not it has ended before it is handed the jobs
        worker = ExportWorker()
        if wait_first:
            worker._process.wait()
        with pytest.raises(CompileError, match="No module named ovaot"):
            worker.export([job])


def test_a_worker_never_given_jobs_is_stopped():
    worker = ExportWorker()
    worker.close()
    assert worker._process.returncode is not None


def test_in_process_and_worker_exports_compute_the_same(tmp_path: Path):
    sample = np.load(MODEL.parent / "tiny_cnn_input.npy")
    session = ort.InferenceSession(str(MODEL))
    want = session.run(None, {session.get_inputs()[0].name: sample})
    for reproducible in (True, False):
        built = ovaot.compile(MODEL, "CPU_FP32", tmp_path / f"{reproducible}.ovpkg", reproducible=reproducible)
        (partition,) = built.manifest.plans[0].partitions
        assert partition.reported_precision == {"CPU": "f32"} and set(partition.blobs) == {"CPU"}
        got = ovaot.load(built.output).run(None, {session.get_inputs()[0].name: sample})
        np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)
