"""Measure each optimisation level: compile time, partitions, fallback nodes, steady-state latency.

Run from the repository root:  python -m benchmarks.passes [--runs 30] [--out artifacts/passes.md]
Models: the nine light models of the onnx wheel and the model zoo built in tests/zoo.py, target CPU_FP32.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import openvino

import ovaot
from tests.helpers import LIGHT_DIR, LIGHT_MODELS, random_feed
from tests.zoo import ZOO

LEVELS = ["disable_all", "basic", "extended", "all"]


def models() -> dict[str, onnx.ModelProto]:
    found = {name: onnx.load(LIGHT_DIR / f"light_{name}.onnx") for name in LIGHT_MODELS}
    found.update({name: build() for name, build in ZOO.items()})
    return found


def measure(model: onnx.ModelProto, runs: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Compile at every level, then time the sessions in turn (level after level) so drift hits all alike."""
    rows: dict[str, dict[str, float]] = {}
    sessions = {}
    for level in LEVELS:
        package = workdir / f"{level}.ovpkg"
        start = time.perf_counter()
        result = ovaot.compile(model, "CPU_FP32", package, opt_level=level)
        partitions = result.manifest.partitions
        rows[level] = {
            "compile_s": time.perf_counter() - start,
            "partitions": len(partitions),
            "fallback_nodes": sum(len(p.nodes) for p in partitions if p.kind == "fallback"),
            "nodes": sum(len(p.nodes) for p in partitions),
        }
        sessions[level] = ovaot.load(package)
    feed = random_feed(model, seed=0)
    times: dict[str, list[float]] = {level: [] for level in LEVELS}
    for i in range(runs + 3):
        for level in LEVELS:
            start = time.perf_counter()
            sessions[level].run(None, feed)
            if i >= 3:
                times[level].append(time.perf_counter() - start)
    for level in LEVELS:
        rows[level]["latency_ms"] = statistics.median(times[level]) * 1000
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path("artifacts/passes.md"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models().items():
            for level, row in measure(model, args.runs, Path(tmp)).items():
                rows.append((name, level, row))
                print(name, level, {k: round(v, 3) for k, v in row.items()}, flush=True)
    lines = [
        "# Optimisation levels",
        "",
        f"Measured by `python -m benchmarks.passes --runs {args.runs}` on this machine (2 cores), target CPU_FP32,",
        f"ovaot {ovaot.__version__}, OpenVINO {openvino.get_version()}, onnx {onnx.__version__}. Latency: median of",
        f"{args.runs} `Session.run` calls per level after 3 warm-up runs, the four levels' sessions taking turns",
        "run by run so that drift on the machine hits them alike. Nodes: ONNX nodes left after the passes.",
        "",
        "| model | level | compile (s) | partitions | fallback nodes | nodes | latency (ms) | vs disable_all |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = {name: row["latency_ms"] for name, level, row in rows if level == "disable_all"}
    for name, level, row in rows:
        lines.append(
            f"| {name} | {level} | {row['compile_s']:.2f} | {row['partitions']} | {row['fallback_nodes']} | "
            f"{row['nodes']} | {row['latency_ms']:.2f} | {row['latency_ms'] / base[name]:.3f} |"
        )
    lines += [
        "",
        "Geometric mean over the models, per level:",
        "",
        "| level | latency vs disable_all | compile (s) |",
        "|---|---|---|",
    ]
    for level in LEVELS:
        ratios = [row["latency_ms"] / base[name] for name, lv, row in rows if lv == level]
        compile_total = sum(row["compile_s"] for _, lv, row in rows if lv == level)
        lines.append(f"| {level} | {float(np.exp(np.mean(np.log(ratios)))):.3f} | {compile_total:.1f} total |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
