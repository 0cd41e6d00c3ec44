"""ai.onnx.ml models from real converters: ovaot (lowered onto OpenVINO) against onnxruntime, side by side.

Run from the repository root:  python -m benchmarks.ml [--runs 200]

Models are tests/ml_models.py's (scikit-learn, LightGBM and XGBoost on scikit-learn's bundled data sets).
Steady-state `run` medians at 100 and 500 rows, interleaved run by run; for tree ensembles the same package
also built with the GEMM strategy instead of tree traversal. Writes artifacts/ml.md.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime

import ovaot
from benchmarks.timing import interleaved_medians
from ovaot.passes.ml import trees
from tests.ml_models import MODELS

ROOT = Path(__file__).parent.parent


def _runner(engine, feed: dict):
    return lambda: engine.run(None, feed)


def _compile(model, folder: Path, name: str, strategy: str = "default") -> ovaot.Session:
    """The package as ovaot builds it by default, or with every tree ensemble lowered by `strategy`: "gemm"
    (Hummingbird's GEMM) or "traversal" (plain tree traversal, no perfect-tree padding)."""
    trees.FORCED = None if strategy == "default" else strategy
    try:
        package = folder / f"{name.replace('/', '_')}-{strategy}.ovpkg"
        ovaot.compile(model, "CPU_FP32", package, force=True)
    finally:
        trees.FORCED = None
    return ovaot.load(package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in sorted(MODELS):
            model, x = MODELS[name]()
            has_trees = any(n.op_type.startswith("TreeEnsemble") for n in model.graph.node)
            ours = _compile(model, Path(folder), name)
            gemm = _compile(model, Path(folder), name, "gemm") if has_trees else None
            plain = _compile(model, Path(folder), name, "traversal") if has_trees else None
            perfect = _compile(model, Path(folder), name, "perfect") if has_trees else None
            reference = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            for batch in (100, 500):
                feed = {reference.get_inputs()[0].name: np.ascontiguousarray(np.resize(x, (batch, x.shape[1])))}
                engines = {
                    "ovaot": ours,
                    "onnxruntime": reference,
                    "ovaot, GEMM": gemm,
                    "ovaot, traversal": plain,
                    "ovaot, perfect": perfect,
                }
                calls = {k: _runner(engine, feed) for k, engine in engines.items() if engine is not None}
                times = interleaved_medians(calls, args.runs)
                kinds = "+".join(sorted({str(p.kind) for p in ours.placements}))
                rows.append((name, batch, kinds, times))
                print(name, batch, kinds, {k: round(v, 3) for k, v in times.items()}, flush=True)
    write_report(rows, args)


def write_report(rows: list, args: argparse.Namespace) -> None:
    ratios = [t["ovaot"] / t["onnxruntime"] for *_, t in rows]
    geomean = math.exp(sum(map(math.log, ratios)) / len(ratios))
    lines = [
        "# ai.onnx.ml models: ovaot against onnxruntime",
        "",
        f"Measured by `python -m benchmarks.ml --runs {args.runs}` on this machine (2 cores): ovaot "
        f"{ovaot.__version__}, onnxruntime {onnxruntime.__version__}. Steady-state `run`, median ms, the engines",
        "taking turns run by run. Placement: where the package runs (`fallback`: ZipMap, string labels or SVM",
        "probabilities in the fallback). Tree ensembles take the strategy ovaot/passes/ml/trees.py chooses (GEMM",
        "for deep ensembles with small path matrices, else perfect-tree traversal where the padded trees stay",
        "small, else plain traversal); the last three columns are the same package with every ensemble lowered by",
        "one strategy, over the default.",
        "",
        "| model | rows | placement | ovaot | onnxruntime | ovaot / onnxruntime | GEMM / default "
        "| traversal / default | perfect / default |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, batch, kinds, t in rows:
        others = [t.get("ovaot, GEMM"), t.get("ovaot, traversal"), t.get("ovaot, perfect")]
        cells = " | ".join("" if o is None else f"{o / t['ovaot']:.2f}" for o in others)
        lines.append(
            f"| {name} | {batch} | {kinds} | {t['ovaot']:.3f} | {t['onnxruntime']:.3f} | "
            f"{t['ovaot'] / t['onnxruntime']:.2f} | {cells} |"
        )
    lines += ["", f"Geometric mean of ovaot / onnxruntime: {geomean:.2f}; largest: {max(ratios):.2f}.", ""]
    (ROOT / "artifacts" / "ml.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
