"""--input-shape: steady-state latency of packages compiled with their dynamic dimensions and with them fixed.

Run from the repository root:  python -m benchmarks.input_shapes [--runs 300]

Models with a dynamic batch from tests/ml_models.py (scikit-learn, LightGBM and XGBoost through their
converters) at 100 rows, and a dynamic-batch MLP: the default package against the same model compiled with
`--input-shape NAME=[rows,features]`, interleaved run by run, medians. Writes artifacts/input_shapes.md.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import onnx

import ovaot
from benchmarks.timing import interleaved_medians
from tests.helpers import relu_mlp
from tests.ml_models import MODELS

ROOT = Path(__file__).parent.parent
ML = ["gradient_boosting_regressor/diabetes", "lgbm_regressor/diabetes", "random_forest_regressor/diabetes",
      "xgb_classifier/iris", "linear_regression/diabetes", "svr_rbf/diabetes"]  # fmt: skip
ROWS = 100


def mlp() -> tuple[onnx.ModelProto, np.ndarray]:
    return relu_mlp([64, 256, 256, 10], seed=0, scale=0.1), np.random.default_rng(1).standard_normal((ROWS, 64))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    cases = {name: MODELS[name]() for name in ML}
    cases["mlp 64-256-256-10"] = mlp()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, (model, x) in cases.items():
            weights = {t.name for t in model.graph.initializer}
            [input_info] = [i for i in model.graph.input if i.name not in weights]
            elem = onnx.helper.tensor_dtype_to_np_dtype(input_info.type.tensor_type.elem_type)
            feed = {input_info.name: np.ascontiguousarray(np.resize(x, (ROWS, x.shape[1])).astype(elem))}
            sessions = {}
            for kind, shapes in (("dynamic", {}), ("static", {input_info.name: f"[{ROWS},{x.shape[1]}]"})):
                package = Path(folder) / f"{name.replace('/', '_')}-{kind}.ovpkg"
                ovaot.compile(model, "CPU_FP32", package, input_shapes=shapes, force=True)
                sessions[kind] = ovaot.load(package)
            calls = {kind: (lambda s=s, f=feed: s.run(None, f)) for kind, s in sessions.items()}
            times = interleaved_medians(calls, args.runs)
            rows.append((name, times))
            print(name, {k: round(v, 4) for k, v in times.items()}, flush=True)
    ratios = [t["static"] / t["dynamic"] for _, t in rows]
    lines = [
        "# --input-shape: dynamic against fixed input dimensions",
        "",
        f"Measured by `python -m benchmarks.input_shapes --runs {args.runs}` on this machine (2 cores), ovaot "
        f"{ovaot.__version__}: steady-state `run` at {ROWS} rows, median ms, the two packages taking turns.",
        "",
        "| model | dynamic (ms) | --input-shape (ms) | fixed / dynamic |",
        "|---|---|---|---|",
        *(f"| {n} | {t['dynamic']:.3f} | {t['static']:.3f} | {t['static'] / t['dynamic']:.2f} |" for n, t in rows),
        "",
        f"Geometric mean of fixed / dynamic: {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}.",
    ]
    (ROOT / "artifacts" / "input_shapes.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
