"""`ovaot compile` as a build step against the script a user would otherwise write, in time and memory.

Run from the repository root:  python -m benchmarks.build_step [--runs 5] [--label after] [--models a,b]

Each measurement is a fresh process, interleaved per run: the export script (import openvino, read_model,
compile_model, export_model to a file), `python -m ovaot compile` (defaults: the IR, the blob check, the fresh
export worker) and `ovaot compile --no-ir`, each into a new file. Wall time from spawn to exit; peak resident
memory from the kernel's high-water mark (VmHWM) of each process of the tree, read every 5 ms, and the largest
sum of the tree's resident sizes seen at one moment (the compiler and its export worker run side by side).
ovaot's seconds per stage come from the same runs (`--json`'s stage_seconds), medians.

Writes artifacts/build_step_<label>.json; artifacts/build_step.md tables every label measured (before, after).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx

import ovaot
from benchmarks.light import light_model

ROOT = Path(__file__).parent.parent
ARTIFACTS = ROOT / "artifacts"
MODELS = ["squeezenet", "inception_v2", "densenet121", "resnet50"]

EXPORT_SCRIPT = """
import openvino as ov
core = ov.Core()
compiled = core.compile_model(core.read_model({model!r}), "CPU", {{"INFERENCE_PRECISION_HINT": "f32"}})
blob = compiled.export_model()
open({out!r}, "wb").write(blob.getvalue() if hasattr(blob, "getvalue") else bytes(blob))
"""


def _kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return int(status.read().split(field + ":")[1].split()[0])
    except (OSError, IndexError):
        return 0  # the process is gone


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            with open(f"/proc/{parent}/task/{parent}/children") as children:
                kids = [int(k) for k in children.read().split()]
        except OSError:
            kids = []
        found += kids
        frontier += kids
    return found


def measure(command: list[str], folder: Path) -> dict[str, float]:
    """Run `command` in `folder` (ovaot as installed, not this checkout) to its end: wall seconds, peak MiB of
    its largest process and of the tree at one moment, and its stdout."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peaks: dict[int, int] = {}
    tree_peak = 0
    while process.poll() is None:
        pids = [process.pid, *_descendants(process.pid)]
        for pid in pids:
            peaks[pid] = max(peaks.get(pid, 0), _kib(pid, "VmHWM"))
        tree_peak = max(tree_peak, sum(_kib(pid, "VmRSS") for pid in pids))
        time.sleep(0.005)
    wall = time.perf_counter() - start
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {stderr.decode()[-2000:]}")
    return {
        "seconds": wall,
        "largest process MiB": max(peaks.values(), default=0) / 1024,
        "tree MiB": tree_peak / 1024,
        "stdout": stdout.decode(),
    }


def run_model(name: str, folder: Path, runs: int) -> dict:
    model, _ = light_model(name)
    source = folder / f"{name}.onnx"
    onnx.save(model, source)
    out = folder / "out"
    commands = {
        "export script": [sys.executable, "-c", EXPORT_SCRIPT.format(model=str(source), out=str(out))],
        "ovaot compile": [sys.executable, "-m", "ovaot", "compile", str(source), "-t", "CPU_FP32", "-o", str(out)],
        "ovaot compile --no-ir": [
            *[sys.executable, "-m", "ovaot", "compile", str(source), "-t", "CPU_FP32", "-o", str(out), "--no-ir"],
        ],
    }
    samples: dict[str, list[dict]] = {label: [] for label in [*commands, "up to date"]}
    for number in range(runs + 1):  # the first round warms the page cache and is not counted
        for label, command in commands.items():
            out.unlink(missing_ok=True)
            result = measure([*command, "--json"] if label.startswith("ovaot") else command, folder)
            if number:
                samples[label].append(result)
        if number:  # the package just built is up to date: the same command again
            samples["up to date"].append(measure([*commands["ovaot compile --no-ir"], "--json"], folder))
    summary: dict = {}
    for label, results in samples.items():
        summary[label] = {
            key: statistics.median(r[key] for r in results) for key in ("seconds", "largest process MiB", "tree MiB")
        }
    summary["up to date"]["compile() s"] = statistics.median(
        json.loads(r["stdout"])["stage_seconds"]["total"] for r in samples["up to date"]
    )
    stages = [json.loads(r["stdout"])["stage_seconds"] for r in samples["ovaot compile"]]
    summary["stages"] = {key: statistics.median(s.get(key, 0.0) for s in stages) for key in stages[0]}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="Fresh processes per command and model.")
    parser.add_argument("--label", default="after", help="Name of this measurement (before, after).")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models.split(","):
            results[name] = run_model(name, Path(folder), args.runs)
            print(name, {k: v for k, v in results[name].items() if k != "stages"}, flush=True)
    measured = {
        "command": f"python -m benchmarks.build_step --runs {args.runs} --label {args.label}",
        "ovaot": ovaot.__version__,
        "python": sys.version.split()[0],
        "cores": os.cpu_count(),
        "models": results,
    }
    (ARTIFACTS / f"build_step_{args.label}.json").write_text(json.dumps(measured, indent=1) + "\n")
    write_tables()


def write_tables() -> None:
    labelled = {path.stem.removeprefix("build_step_"): json.loads(path.read_text()) for path in _measurements()}
    lines = [
        "# The build step: `ovaot compile` against an OpenVINO export script",
        "",
        "Fresh processes, medians; wall time from spawn to exit; peak memory is the largest process's high-water",
        "mark (the compiler or its export worker) and, in brackets, the most the whole process tree held at once.",
        "Goals: ovaot at most 2x the script's time (--no-ir 1.7x) and 1.5x its memory. Light models of the onnx",
        "wheel with seeded weights, target CPU_FP32.",
    ]
    for label, measured in labelled.items():
        lines += [
            "",
            f"## {label}",
            "",
            f"`{measured['command']}`, ovaot {measured['ovaot']}, {measured['cores']} cores.",
            "",
        ]
        lines += [
            "| model | script s | ovaot s | ratio | --no-ir s | ratio | script MiB | ovaot MiB | ratio |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, m in measured["models"].items():
            script, full, no_ir = m["export script"], m["ovaot compile"], m["ovaot compile --no-ir"]
            ratio = full["seconds"] / script["seconds"]
            lines.append(
                f"| {name} | {script['seconds']:.2f} | {full['seconds']:.2f} | {ratio:.2f} "
                f"| {no_ir['seconds']:.2f} | {no_ir['seconds'] / script['seconds']:.2f} "
                f"| {script['largest process MiB']:.0f} | {full['largest process MiB']:.0f} ({full['tree MiB']:.0f}) "
                f"| {full['largest process MiB'] / script['largest process MiB']:.2f} "
                f"({full['tree MiB'] / script['tree MiB']:.2f}) |"
            )
        lines += [
            "",
            "The up-to-date check (`ovaot compile` again on the package it just wrote): the whole command, and "
            "compile() in it (hash the model, read and verify the package), against a compile.",
            "",
            "| model | command s | / compile | compile() s | / compile |",
            "|---|---|---|---|---|",
        ]
        for name, m in measured["models"].items():
            if "up to date" not in m:
                continue  # measured before the benchmark timed it
            fresh, again = m["ovaot compile --no-ir"]["seconds"], m["up to date"]
            lines.append(
                f"| {name} | {again['seconds']:.2f} | {again['seconds'] / fresh:.2f} | {again['compile() s']:.3f} "
                f"| {again['compile() s'] / fresh:.3f} |"
            )
        names = list(measured["models"])
        stage_names = list(dict.fromkeys(s for m in measured["models"].values() for s in m["stages"]))
        lines += [
            "",
            f"Where ovaot's time goes ({label}), seconds: the compiler's stages add up to its total; the export "
            "worker's run beside them.",
            "",
            "| stage | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for stage_name in stage_names:
            values = [measured["models"][n]["stages"].get(stage_name, 0.0) for n in names]
            if any(v >= 0.0005 for v in values):
                lines.append(f"| {stage_name} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
        outside = [
            measured["models"][n]["ovaot compile"]["seconds"] - measured["models"][n]["stages"]["total"] for n in names
        ]
        lines.append("| outside compile(): Python, imports, exit | " + " | ".join(f"{v:.3f}" for v in outside) + " |")
    (ARTIFACTS / "build_step.md").write_text("\n".join(lines) + "\n")


def _measurements() -> list[Path]:
    order = {"before": 0, "after": 2}
    return sorted(ARTIFACTS.glob("build_step_*.json"), key=lambda p: (order.get(p.stem[11:], 1), p.stem))


if __name__ == "__main__":
    main()
