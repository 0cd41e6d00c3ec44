"""Models quantized by onnxruntime's own quantizer: ovaot against onnxruntime, side by side.

Run from the repository root:  python -m benchmarks.quantized [--runs 300]

Static QOperator (QLinearConv and the com.microsoft QLinear* ops, lowered by ovaot to the QDQ form) and dynamic
quantization (DynamicQuantizeLinear, MatMulInteger, ConvInteger) of a small CNN and an MLP built in code with
seeded weights. Steady-state `run` medians, interleaved run by run; the largest output difference in quantisation
steps (static) or absolute (dynamic). Writes artifacts/quantized.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

import ovaot
from benchmarks.timing import interleaved_medians

ROOT = Path(__file__).parent.parent


def _weights(rng: np.random.Generator, **shapes: tuple[int, ...]) -> list[onnx.TensorProto]:
    return [numpy_helper.from_array((rng.standard_normal(s) * 0.1).astype(np.float32), n) for n, s in shapes.items()]


def _model(nodes: list, input_shape: list, output_shape: list, initializers: list) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def cnn() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "c1", "b1"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["a"], ["r"], alpha=0.1),
        helper.make_node("Conv", ["r", "c2", "b2"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Sigmoid", ["c"], ["s"]),
        helper.make_node("Mul", ["s", "c"], ["m"]),
        helper.make_node("AveragePool", ["m"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fb"], ["y"]),
    ]
    weights = _weights(rng, c1=(16, 3, 3, 3), b1=(16,), c2=(32, 16, 3, 3), b2=(32,), fc=(32, 10), fb=(10,))
    return _model(nodes, ["n", 3, 32, 32], ["n", 10], weights)


def mlp() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"]),
        helper.make_node("Add", ["h1", "b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("MatMul", ["r1", "w2"], ["h2"]),
        helper.make_node("Add", ["h2", "b2"], ["a2"]),
        helper.make_node("Relu", ["a2"], ["r2"]),
        helper.make_node("MatMul", ["r2", "w3"], ["y"]),
    ]
    weights = _weights(rng, w1=(256, 512), b1=(512,), w2=(512, 512), b2=(512,), w3=(512, 10))
    return _model(nodes, ["n", 256], ["n", 10], weights)


class _Samples(CalibrationDataReader):
    def __init__(self, shape: tuple[int, ...]) -> None:
        rng = np.random.default_rng(2)
        self._feeds = iter([{"x": rng.standard_normal(shape).astype(np.float32)} for _ in range(16)])

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def _quantize(model: onnx.ModelProto, kind: str, shape: tuple[int, ...], folder: Path) -> onnx.ModelProto:
    source, target = folder / "float.onnx", folder / f"{kind}.onnx"
    onnx.save(model, source)
    with contextlib.redirect_stderr(io.StringIO()):
        if kind == "static":
            quantize_static(
                str(source),
                str(target),
                _Samples((1, *shape[1:])),
                quant_format=QuantFormat.QOperator,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                reduce_range=True,
            )
        else:
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QUInt8)
    return onnx.load(target)


def _calls(ours: ovaot.Session, reference: onnxruntime.InferenceSession, feed: dict) -> dict:
    return {"ovaot": lambda: ours.run(None, feed), "onnxruntime": lambda: reference.run(None, feed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name, build, shape in (("cnn", cnn, (8, 3, 32, 32)), ("mlp", mlp, (8, 256))):
            for kind in ("static", "dynamic"):
                quantized = _quantize(build(), kind, shape, Path(folder))
                ops = sorted(
                    {
                        n.op_type
                        for n in quantized.graph.node
                        if "Integer" in n.op_type
                        or "QLinear" in n.op_type
                        or n.op_type in ("QGemm", "DynamicQuantizeLinear")
                    }
                )
                package = Path(folder) / f"{name}-{kind}.ovpkg"
                ovaot.compile(quantized, "CPU", package)
                ours = ovaot.load(package)
                reference = onnxruntime.InferenceSession(
                    quantized.SerializeToString(), providers=["CPUExecutionProvider"]
                )
                feed = {"x": np.random.default_rng(3).standard_normal(shape).astype(np.float32)}
                difference = float(np.abs(ours.run(None, feed)[0] - reference.run(None, feed)[0]).max())
                times = interleaved_medians(_calls(ours, reference, feed), args.runs, warmup=10)
                placement = "+".join(sorted({str(p.kind) for p in ours.placements}))
                rows.append((name, kind, ", ".join(ops), placement, times, difference))
                print(rows[-1], flush=True)
    lines = [
        "# Quantized models: ovaot against onnxruntime",
        "",
        f"Measured by `python -m benchmarks.quantized --runs {args.runs}` on this machine (2 cores): ovaot "
        f"{ovaot.__version__}, onnxruntime {onnxruntime.__version__}. Models built in code with seeded weights and",
        "quantized by onnxruntime's quantizer (static: QOperator format, reduce_range, calibrated on 16 seeded",
        "samples; dynamic: quantize_dynamic). Steady-state `run`, median ms, batch 8, the engines taking turns.",
        "",
        "| model | quantization | quantized ops | placement | ovaot | onnxruntime | ovaot / onnxruntime "
        "| max abs difference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, kind, ops, placement, t, difference in rows:
        lines.append(
            f"| {name} | {kind} | {ops} | {placement} | {t['ovaot']:.3f} | {t['onnxruntime']:.3f} | "
            f"{t['ovaot'] / t['onnxruntime']:.2f} | {difference:.2e} |"
        )
    lines += [
        "",
        "Where the time goes (OpenVINO's per-layer profile at batch 8): static, OpenVINO runs the MLP's int8",
        "FullyConnected layers with its generic jit_gemm_I8 kernel (55 and 48 us of the run); dynamic, it runs",
        "MatMulInteger and ConvInteger as float32 brgemm (its int8 kernels need constant activation scales, which",
        "dynamic quantization computes per run). onnxruntime runs both with its u8s8 integer kernels.",
        "",
    ]
    (ROOT / "artifacts" / "quantized.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
