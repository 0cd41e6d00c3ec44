"""--quantize int8: ovaot's INT8 package against NNCF applied by hand and against the FP32 package.

Run from the repository root (needs ovaot[quantize]):  python -m benchmarks.int8 [--runs 100]

The light models with seeded weights of the real shapes, calibrated on 32 seeded images. Steady-state latency
of one 224x224 image, median ms, interleaved: ovaot's INT8 package (`Session.run`), the model quantized by hand
(`nncf.quantize` on OpenVINO's reading of the same ONNX file, same data, compiled with the same properties, run
through OpenVINO's Python API) and ovaot's FP32 package. Writes artifacts/int8.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import nncf
import numpy as np
import onnx
import openvino as ov

import ovaot
from benchmarks.light import light_model
from benchmarks.timing import interleaved_medians

ROOT = Path(__file__).parent.parent
MODELS = ["squeezenet", "resnet50", "densenet121"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in MODELS:
            model, input_name = light_model(name)
            path = Path(folder) / f"{name}.onnx"
            onnx.save(model, path)
            images = np.random.default_rng(0).standard_normal((32, 3, 224, 224)).astype(np.float32)
            np.savez(Path(folder) / "calibration.npz", **{input_name: images})
            int8 = Path(folder) / f"{name}-int8.ovpkg"
            ovaot.compile(path, "CPU_FP32", int8, quantize="int8", calibration=Path(folder) / "calibration.npz")
            fp32 = Path(folder) / f"{name}-fp32.ovpkg"
            ovaot.compile(path, "CPU_FP32", fp32)
            core = ov.Core()
            by_hand = nncf.quantize(core.read_model(str(path)), nncf.Dataset([[x[None]] for x in images]))
            request = core.compile_model(by_hand, "CPU", {"INFERENCE_PRECISION_HINT": "f32"}).create_infer_request()
            ours, float_session = ovaot.load(int8), ovaot.load(fp32)
            feed = {input_name: images[:1]}
            times = interleaved_medians(
                {
                    "ovaot int8": lambda s=ours, f=feed: s.run(None, f),
                    "NNCF by hand": lambda r=request, x=images[:1]: r.infer([x]),
                    "ovaot fp32": lambda s=float_session, f=feed: s.run(None, f),
                },
                args.runs,
            )
            record = ours.manifest.partitions[0].quantization
            rows.append((name, times, record))
            print(name, {k: round(v, 3) for k, v in times.items()}, flush=True)
    lines = [
        "# INT8: ovaot --quantize against NNCF by hand and against FP32",
        "",
        f"Measured by `python -m benchmarks.int8 --runs {args.runs}` on this machine (2 cores): ovaot "
        f"{ovaot.__version__}, NNCF {nncf.__version__}, OpenVINO {ov.get_version().split('-')[0]}; one 1x3x224x224 "
        "image, median ms, interleaved; calibration 32 seeded images. Accuracy is the package's own record "
        "(against the float model on the calibration set).",
        "",
        "| model | ovaot int8 | NNCF by hand | ovaot fp32 | int8 / by hand | fp32 / int8 | top-1 agreement | "
        "max relative difference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t, record in rows:
        lines.append(
            f"| {name} | {t['ovaot int8']:.2f} | {t['NNCF by hand']:.2f} | {t['ovaot fp32']:.2f} | "
            f"{t['ovaot int8'] / t['NNCF by hand']:.2f} | {t['ovaot fp32'] / t['ovaot int8']:.2f} | "
            f"{record.get('top1_agreement', float('nan')):.2f} | {record['max_relative_difference']:.3f} |"
        )
    (ROOT / "artifacts" / "int8.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
