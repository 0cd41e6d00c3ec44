"""A lone data-movement op between two fallback partitions: on OpenVINO (two crossings) or joined to the fallback.

Run from the repository root:  python -m benchmarks.crossings [--runs 2000]

x -> Neg (fallback) -> op -> Neg (fallback) -> y, for Unsqueeze, Reshape and Transpose on tensors from 1x64 to
256x1024 floats: the package as ovaot builds it (the op joins the fallback: one partition) against the same
package with the op kept on OpenVINO (three partitions). Median ms, interleaved. Writes artifacts/crossings.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ovaot
from benchmarks.timing import interleaved_medians
from ovaot.compiler import planning

ROOT = Path(__file__).parent.parent
SHAPES = [(1, 64), (16, 256), (256, 1024)]


def sandwich(op: str, shape: tuple[int, int]) -> onnx.ModelProto:
    extra = {"Unsqueeze": ["axes"], "Reshape": ["flat"], "Transpose": []}[op]
    graph = helper.make_graph(
        [
            helper.make_node("Neg", ["x"], ["a"]),
            helper.make_node(op, ["a", *extra], ["b"]),
            helper.make_node("Neg", ["b"], ["y"]),
        ],
        "sandwich",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [
            numpy_helper.from_array(np.array([0], np.int64), "axes"),
            numpy_helper.from_array(np.array([-1], np.int64), "flat"),
        ],
    )
    return onnx.shape_inference.infer_shapes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


def _session(model: onnx.ModelProto, package: Path, join: bool) -> ovaot.Session:
    kept = planning.DATA_MOVEMENT
    planning.DATA_MOVEMENT = kept if join else frozenset()
    try:
        ovaot.compile(model, "CPU_FP32", package, force_fallback=["Neg"], force=True)
    finally:
        planning.DATA_MOVEMENT = kept
    return ovaot.load(package)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for op in ("Unsqueeze", "Reshape", "Transpose"):
            for shape in SHAPES:
                model = sandwich(op, shape)
                joined = _session(model, Path(folder) / "joined.ovpkg", join=True)
                apart = _session(model, Path(folder) / "apart.ovpkg", join=False)
                assert len(joined.placements) == 1 and len(apart.placements) == 3
                feed = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
                calls = {
                    name: (lambda s=session, f=feed: s.run(None, f))
                    for name, session in [("joined", joined), ("apart", apart)]
                }
                times = interleaved_medians(calls, args.runs)
                rows.append((op, shape, times))
                print(op, shape, {k: round(v, 4) for k, v in times.items()}, flush=True)
    lines = [
        "# A lone data-movement op between two fallback partitions",
        "",
        f"Measured by `python -m benchmarks.crossings --runs {args.runs}` on this machine (2 cores), ovaot "
        f"{ovaot.__version__}. x -> Neg (fallback) -> op -> Neg (fallback): the op joined to the fallback (what ovaot "
        "builds: one partition) against the op on OpenVINO (three partitions, two crossings). Median ms of "
        "`Session.run`, interleaved.",
        "",
        "| op | shape | joined (ms) | on OpenVINO (ms) | OpenVINO / joined |",
        "|---|---|---|---|---|",
    ]
    for op, shape, t in rows:
        lines.append(
            f"| {op} | {shape[0]}x{shape[1]} | {t['joined']:.4f} | {t['apart']:.4f} | {t['apart'] / t['joined']:.2f} |"
        )
    (ROOT / "artifacts" / "crossings.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
