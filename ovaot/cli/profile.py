"""ovaot bench --profile: where a run's time goes, per partition, per OpenVINO op and per fallback node.

OpenVINO partitions are loaded with PERF_COUNT=YES and each op's real time is read through the C API's profiling
info after every run; fallback nodes are timed around onnx.reference's own call of each node. Medians over the
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
    node_times: dict[tuple[int, str, str], list[float]] = defaultdict(list)
    _time_fallback_nodes(session, node_times)
    session.run(None, feed)  # warm up (first-run kernel preparation)
    for samples in node_times.values():
        samples.clear()
    partition_times: list[list[float]] = [[] for _ in session.runners]
    op_times: dict[tuple[int, str, str, str], list[float]] = defaultdict(list)
    for _ in range(runs):
        _, seconds = session.run_timed(feed)
        for index, (runner, spent) in enumerate(zip(session.runners, seconds)):
            partition_times[index].append(spent)
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


def _time_fallback_nodes(session: Session, times: dict[tuple[int, str, str], list[float]]) -> None:
    """Wrap each fallback node's run (onnx.reference's OpRun instances) so its calls are timed."""
    for index, runner in enumerate(session.runners):
        evaluator = getattr(runner, "evaluator", None)
        for node in getattr(evaluator, "rt_nodes_", []):
            key = (index, node.onnx_node.name or node.onnx_node.output[0], node.op_type)

            def timed(*args: Any, _run: Any = node.run, _key: Any = key, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return _run(*args, **kwargs)
                finally:
                    times[_key].append(time.perf_counter() - start)

            node.run = timed


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
