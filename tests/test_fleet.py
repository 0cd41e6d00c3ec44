"""Fleet compiles: models x targets on a process pool or a Dask cluster, each job exactly `ovaot compile`."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

import ovaot
from ovaot.cli import EXIT_FAILED, main
from ovaot.integrations.fleet import JobStatus, compile_many, package_name, plan_jobs

from helpers import EXAMPLES


@pytest.fixture
def models(tmp_path):
    """The example CNN under two names, and a file that is not a model."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(EXAMPLES / "tiny_cnn.onnx", folder / "cnn_a.onnx")
    shutil.copy(EXAMPLES / "tiny_cnn.onnx", folder / "cnn_b.onnx")
    (folder / "broken.onnx").write_bytes(b"not an onnx model")
    return folder


def test_package_names_are_file_safe():
    assert package_name("m/resnet.onnx", "HETERO:GPU,CPU") == "resnet.HETERO-GPU-CPU.ovpkg"


@pytest.mark.slow
def test_a_pool_builds_every_job_as_ovaot_compile_would_and_then_finds_them_up_to_date(tmp_path, models):
    jobs = plan_jobs([models / "cnn_a.onnx", models / "cnn_b.onnx"], ["CPU_FP32", "MYRIAD_FP16"], tmp_path / "out")
    results = compile_many(jobs)
    assert [r.status for r in results] == [JobStatus.BUILT] * 4
    alone = tmp_path / "alone.ovpkg"
    ovaot.compile(models / "cnn_b.onnx", "MYRIAD_FP16", alone)
    assert (tmp_path / "out" / "cnn_b.MYRIAD_FP16.ovpkg").read_bytes() == alone.read_bytes()
    assert len({r.source_digest for r in results}) == 1  # the same model bytes under two names
    again = compile_many(jobs)
    assert [r.status for r in again] == [JobStatus.UP_TO_DATE] * 4
    assert [r.package_digest for r in again] == [r.package_digest for r in results]


def test_one_failure_does_not_stop_the_others_and_the_index_says_so(tmp_path, models):
    out = tmp_path / "out"
    command = ["compile-many", str(models / "cnn_a.onnx"), str(models / "broken.onnx"), "-t", "CPU_FP32"]
    result = CliRunner().invoke(main, [*command, "-o", str(out), "--jobs", "2"])
    assert result.exit_code == EXIT_FAILED, result.output
    index = json.loads((out / "index.json").read_text())["jobs"]
    assert [(j["model"].rsplit("/", 1)[-1], j["status"]) for j in index] == [
        ("cnn_a.onnx", "built"),
        ("broken.onnx", "failed"),
    ]
    assert "broken.onnx" in index[1]["error"] and not (out / "broken.CPU_FP32.ovpkg").exists()
    assert index[0]["package_digest"].startswith("blake3:") and index[0]["source_digest"].startswith("blake3:")
    assert (out / "cnn_a.CPU_FP32.ovpkg").is_file()


@pytest.mark.slow
def test_a_dask_cluster_on_loopback_runs_the_jobs(tmp_path, models):
    distributed = pytest.importorskip("dask.distributed", reason="Dask (ovaot[dask]) is not installed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        out = tmp_path / "out"
        command = ["compile-many", str(models / "cnn_a.onnx"), str(models / "cnn_b.onnx"), "-t", "CPU_FP32"]
        result = CliRunner().invoke(
            main, [*command, "-o", str(out), "--scheduler", cluster.scheduler_address, "--json"]
        )
    assert result.exit_code == 0, result.output
    jobs = json.loads(result.output)["jobs"]
    assert [j["status"] for j in jobs] == ["built", "built"]
    assert ovaot.load(out / "cnn_a.CPU_FP32.ovpkg").placements
