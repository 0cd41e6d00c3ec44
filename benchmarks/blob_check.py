"""What the blob check (on by default) costs a compile: `ovaot compile` against `ovaot compile --no-check`.

Run from the repository root:  python -m benchmarks.blob_check [--runs 5]

The light models with seeded weights of the real shapes, each compiled in a fresh process (the CLI, as a
build step runs it), the two settings taking turns run by run. Medians. Writes artifacts/blob_check.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx

import ovaot
from tests.helpers import LIGHT_DIR, with_random_weights

ROOT = Path(__file__).parent.parent
MODELS = ["squeezenet", "inception_v2", "densenet121", "resnet50"]


def _compile_seconds(model: Path, package: Path, flag: str) -> float:
    command = [sys.executable, "-m", "ovaot", "compile", str(model), "-t", "CPU_FP32", "-o", str(package)]
    start = time.perf_counter()
    subprocess.run([*command, "--force", "-q", flag], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            model = Path(folder) / f"{name}.onnx"
            onnx.save(with_random_weights(onnx.load(LIGHT_DIR / f"light_{name}.onnx"), seed=7), model)
            times: dict[str, list[float]] = {"--check": [], "--no-check": []}
            for _ in range(args.runs):
                for flag in times:
                    times[flag].append(_compile_seconds(model, Path(folder) / f"{name}{flag}.ovpkg", flag))
            checked, unchecked = (statistics.median(times[f]) for f in ("--check", "--no-check"))
            rows.append((name, checked, unchecked))
            print(name, round(checked, 3), round(unchecked, 3), flush=True)
    lines = [
        "# The blob check's cost",
        "",
        f"Measured by `python -m benchmarks.blob_check --runs {args.runs}` on this machine (2 cores): ovaot "
        f"{ovaot.__version__}, wall time of `ovaot compile -t CPU_FP32` in a fresh process, with the blob check (the "
        "default: each exported blob imported again and run beside the compiled model on a seeded sample) and "
        "with `--no-check`, the two taking turns. Medians. Goal: at most 10% more.",
        "",
        "| model | with the check (s) | --no-check (s) | cost |",
        "|---|---|---|---|",
    ]
    for name, checked, unchecked in rows:
        lines.append(f"| {name} | {checked:.2f} | {unchecked:.2f} | {100 * (checked / unchecked - 1):+.1f}% |")
    (ROOT / "artifacts" / "blob_check.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
