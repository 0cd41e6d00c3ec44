"""The export worker: blobs compiled in a fresh process, a refused job reported, not fatal; both export paths
give packages that compute what onnxruntime computes."""

from __future__ import annotations

import sys
import time
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


def test_a_refused_job_is_reported_and_ends_the_list(tmp_path: Path):
    core = ov.Core()
    xml, weights = save_ir(convert_partition(core, lstm_sequence()), False, tmp_path)
    good = ExportJob(xml, weights, "CPU", F32)
    broken = ExportJob(xml, weights, "CPU", {"NO_SUCH_PROPERTY": "1"})  # OpenVINO refuses to compile
    results = ExportWorker(tmp_path).export([good, broken, good])
    assert len(results) == 2
    assert results[0].blob and results[0].precision == "f32" and not results[0].error
    assert not results[1].blob and results[1].error
    # the blob computes what the model computes
    sample = np.random.default_rng(3).standard_normal((16, 1, 32)).astype(np.float32)
    model = lstm_sequence()
    want = ort.InferenceSession(model.SerializeToString()).run(None, {model.graph.input[0].name: sample})
    compiled = core.import_model(results[0].blob.read_bytes(), "CPU", F32)
    got = compiled({model.graph.input[0].name: sample})
    for expected, name in zip(want, [o.name for o in model.graph.output]):
        np.testing.assert_allclose(got[name], expected, rtol=1e-4, atol=1e-5)


def _ended(pid: int) -> bool:
    """Whether process `pid` has ended: gone, or a zombie its parent has not reaped yet (Linux's /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_for(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="tells a process has ended from Linux's /proc")
@pytest.mark.parametrize("wait_first", [True, False], ids=["ended-before-jobs", "jobs-before-end"])
def test_a_worker_that_cannot_start_is_a_compile_error_with_its_reason(wait_first, tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    broken = tmp_path / "python"
    broken.write_text(
        f"#!/bin/sh\necho 'ModuleNotFoundError: No module named ovaot' >&2\necho $$ > {pid_file}\nexit 1\n"
    )
    broken.chmod(0o755)
    monkeypatch.setattr(export_worker.sys, "executable", str(broken))
    (tmp_path / "m.xml").write_text("<net/>")
    (tmp_path / "m.bin").write_bytes(b"")
    job = ExportJob(tmp_path / "m.xml", tmp_path / "m.bin", "CPU", F32)
    worker = ExportWorker(tmp_path)
    if wait_first:  # the worker has ended before it is handed the jobs
        _wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip())
        _wait_for(lambda: _ended(int(pid_file.read_text())))
    with pytest.raises(CompileError, match="No module named ovaot"):
        worker.export([job])


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="tells a process has ended from Linux's /proc")
def test_a_worker_never_given_jobs_is_stopped_and_reaped(tmp_path, monkeypatch):
    pid_file = tmp_path / "pid"
    wrapper = tmp_path / "python"  # the real interpreter, after writing its process id
    wrapper.write_text(f'#!/bin/sh\necho $$ > {pid_file}\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setattr(export_worker.sys, "executable", str(wrapper))
    worker = ExportWorker(tmp_path)
    _wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip())
    pid = int(pid_file.read_text())
    assert not _ended(pid)
    worker.close()
    assert not Path(f"/proc/{pid}").exists()  # killed and reaped: not left running, nor as a zombie


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
