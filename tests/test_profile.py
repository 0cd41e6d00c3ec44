"""ovaot bench --profile: time per partition, per OpenVINO op (the C API's profiling info) and per fallback node."""

from __future__ import annotations

import json

from click.testing import CliRunner

import ovaot
from ovaot.cli import main

from helpers import EXAMPLES


def test_profile_splits_the_time_by_partition_op_and_fallback_node(tmp_path):
    package = tmp_path / "split.ovpkg"
    ovaot.compile(EXAMPLES / "tiny_cnn.onnx", "CPU_FP32", package, force_fallback=["Relu"])
    result = CliRunner().invoke(main, ["bench", str(package), "--profile", "-n", "5", "--top", "50", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    kinds = [p["kind"] for p in report["partitions"]]
    assert kinds == [p.kind for p in ovaot.load(package).placements] and "fallback" in kinds
    assert abs(sum(p["share"] for p in report["partitions"]) - 1) < 1e-6
    by_engine = {op["exec_type"] == "numpy" for op in report["ops"]}
    assert by_engine == {True, False}  # OpenVINO's ops and numpy's nodes
    convolutions = [op for op in report["ops"] if op["type"] == "Convolution"]
    assert convolutions and all(op["exec_type"] and op["median_ms"] >= 0 for op in convolutions)
    assert {op["type"] for op in report["ops"] if op["exec_type"] == "numpy"} == {"Relu"}
    text = CliRunner().invoke(main, ["bench", str(package), "--profile", "-n", "3", "--top", "3"]).output
    assert "partition 0 (openvino on CPU)" in text and "top 3 of" in text
