"""--compress-weights: package size and latency of MatMul-dominated models, against the FP32 package.

Run from the repository root (needs ovaot[quantize]):  python -m benchmarks.weight_compression [--runs 200]

Two MLPs of seeded weights (a MatMul and a Relu per layer): a transformer block's feed-forward (768-3072-768,
19 MB of weights) and a wider stack (1024-4096-4096-1024, 100 MB). Each compiled for CPU_FP32 as is and with
--compress-weights int8, int4_sym and int4_asym (groups of 128); package size, the outputs' largest difference
from the FP32 package relative to its largest output, and steady-state latency (median ms, interleaved) at 1 and
16 rows. Writes artifacts/weight_compression.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import ovaot
from benchmarks.timing import interleaved_medians
from tests.helpers import relu_mlp

ROOT = Path(__file__).parent.parent
MODELS = {"feed-forward 768-3072-768": [768, 3072, 768], "stack 1024-4096-4096-1024": [1024, 4096, 4096, 1024]}
VARIANTS = {"fp32": {}, "int8": {"compress_weights": "int8"}}
VARIANTS |= {mode: {"compress_weights": mode, "group_size": 128} for mode in ("int4_sym", "int4_asym")}
ROWS = (1, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, widths in MODELS.items():
            model = relu_mlp(widths, seed=11, scale=widths[0] ** -0.5)
            sessions, sizes = {}, {}
            for variant, options in VARIANTS.items():
                package = Path(folder) / f"{variant}.ovpkg"
                ovaot.compile(model, "CPU_FP32", package, force=True, **options)
                sessions[variant], sizes[variant] = ovaot.load(package), package.stat().st_size
            for count in ROWS:
                x = np.random.default_rng(count).standard_normal((count, widths[0])).astype(np.float32)
                want = sessions["fp32"].run(None, {"x": x})[0]
                error = {
                    v: float(np.abs(s.run(None, {"x": x})[0] - want).max() / np.abs(want).max())
                    for v, s in sessions.items()
                }
                times = interleaved_medians(
                    {v: lambda s=s, f={"x": x}: s.run(None, f) for v, s in sessions.items()}, args.runs
                )
                rows.append((name, count, sizes, error, times))
                print(name, count, {k: round(v, 3) for k, v in times.items()}, flush=True)
    _write(rows, args.runs)


def _write(rows: list, runs: int) -> None:
    lines = [
        "# Weight compression: --compress-weights against the FP32 package",
        "",
        f"Measured by `python -m benchmarks.weight_compression --runs {runs}` on this machine (2 cores), ovaot "
        f"{ovaot.__version__}, target CPU_FP32: MLPs of seeded weights (a MatMul and a Relu per layer), int4 in "
        "groups of 128. Size of the whole package (IR and blob); difference: the largest absolute difference "
        "from the FP32 package's outputs over its largest output; latency: median ms, interleaved.",
        "",
        "| model | rows | variant | package MB | size / fp32 | difference | ms | time / fp32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, count, sizes, error, times in rows:
        for variant in VARIANTS:
            lines.append(
                f"| {name} | {count} | {variant} | {sizes[variant] / 1e6:.1f} | {sizes[variant] / sizes['fp32']:.2f} "
                f"| {error[variant]:.4f} | {times[variant]:.3f} | {times[variant] / times['fp32']:.2f} |"
            )
    (ROOT / "artifacts" / "weight_compression.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
