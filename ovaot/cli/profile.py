"""ovaot bench --profile: where a run's time goes, per partition, per OpenVINO op and per fallback node.

OpenVINO partitions are loaded with PERF_COUNT=YES and each op's real time is read through the C API's profiling
info after every run; partitions, and fallback nodes (onnx.reference's OpRun calls), are timed by wrapping their
run. Medians over the
runs, sorted, the top N.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ovaot.cli.bench import sample_feed
from ovaot.loader.openvino_runner import CompiledPartition
from ovaot.loader.session import Session


def profile(package: str | Path, feed: Mapping[str, Any] | None, runs: int, top: int) -> dict[str, Any]:
    session = Session(package, perf_count=True)
    feed = dict(feed) if feed is not None else sample_feed(session)
    partition_times: list[list[float]] = [[] for _ in session.runners]
    node_times: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    for index, runner in enumerate(session.runners):
        runner.run = _timed(runner.run, partition_times[index])
        for node in getattr(getattr(runner, "evaluator", None), "rt_nodes_", []):  # onnx.reference's OpRuns
            node.run = _timed(
                node.run, node_times[(index, node.onnx_node.name or node.onnx_node.output[0], node.op_type)]
            )
    session.run(None, feed)  # warm up (first-run kernel preparation)
    for samples in [*partition_times, *node_times.values()]:
        samples.clear()
    op_times: dict[tuple[int, str, str, str], list[float]] = defaultdict(list)
    for _ in range(runs):
        session.run(None, feed)
        for index, runner in enumerate(session.runners):
            if isinstance(runner, CompiledPartition):
                for op in runner.last_profile():
                    if op["status"] == "executed":
                        op_times[(index, op["name"], op["type"], op["exec_type"])].append(op["real_time_us"] / 1000)
    total = sum(statistics.median(t) for t in partition_times)
    partitions = [
        {
            "index": placement.partition,
            "kind": str(placement.kind),
            "device": ",".join(placement.devices) or "numpy",
            "median_ms": 1000 * statistics.median(times),
            "share": statistics.median(times) / total if total else 0.0,
        }
        for placement, times in zip(session.placements, partition_times)
    ]
    ops = [
        {"partition": p, "name": n, "type": t, "exec_type": e, "median_ms": statistics.median(v)}
        for (p, n, t, e), v in op_times.items()
    ]
    ops += [
        {"partition": p, "name": n, "type": t, "exec_type": "numpy", "median_ms": 1000 * statistics.median(v)}
        for (p, n, t), v in node_times.items()
        if v
    ]
    ops.sort(key=lambda op: -op["median_ms"])
    return {"package": str(package), "runs": runs, "partitions": partitions, "ops": ops[:top], "op_count": len(ops)}


def _timed(call: Any, samples: list[float]) -> Any:
    """`call`, appending the seconds each call takes to `samples`."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            samples.append(time.perf_counter() - start)

    return timed


def profile_lines(report: dict[str, Any]) -> list[str]:
    lines = [f"{report['package']}: {report['runs']} runs, medians"]
    for p in report["partitions"]:
        lines.append(
            f"  partition {p['index']} ({p['kind']} on {p['device']}): {p['median_ms']:.3f} ms, {100 * p['share']:.0f}%"
        )
    lines.append(f"  top {len(report['ops'])} of {report['op_count']} ops:")
    for op in report["ops"]:
        where = f"partition {op['partition']}  {op['type']} ({op['exec_type']})"
        lines.append(f"    {op['median_ms']:8.3f} ms  {where}  {op['name']}")
    return lines
