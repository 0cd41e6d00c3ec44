"""--quantize int8 --calibration DATA: NNCF's post-training quantization of the OpenVINO partitions.

The calibration set is an .npz of input arrays (each array's first axis indexes samples, each sample keeping a
batch of 1) or a folder of .npz (one sample each, arrays by input name) and .npy files (one sample each, for a
model with one input). NNCF (`nncf.quantize`, the OpenVINO ecosystem's maintained library; extra
`ovaot[quantize]`) quantizes each OpenVINO partition that reads only model inputs; one that reads values
computed before it stays in float, saying why, as does the fallback. Each quantized partition records the
calibration's size and its accuracy against the float partition on the calibration set.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from ovaot.errors import UsageError

log = logging.getLogger(__name__)

METHODS = ("int8",)
COMPRESSIONS = {"int8": "INT8_ASYM", "int4_sym": "INT4_SYM", "int4_asym": "INT4_ASYM"}  # NNCF's modes


def calibration_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".npz", ".npy"))
        if not files:
            raise UsageError(f"--calibration {path}: the folder holds no .npz or .npy samples")
        return files
    if path.suffix != ".npz" or not path.is_file():
        raise UsageError(f"--calibration {path}: give an .npz of input arrays or a folder of .npy/.npz samples")
    return [path]


def calibration_digest(path: Path) -> str:
    """BLAKE3 over the calibration files' names and bytes: the package is rebuilt when the data changes."""
    import blake3

    digest = blake3.blake3()
    for file in calibration_files(path):
        digest.update(file.name.encode() + b"\0" + file.read_bytes())
    return "blake3:" + digest.hexdigest()


def load_samples(path: Path, inputs: list[str], size: int) -> list[dict[str, np.ndarray]]:
    """At most `size` samples, each {input name: array}."""
    samples: list[dict[str, np.ndarray]] = []
    for file in calibration_files(path):
        if file.suffix == ".npy":
            if len(inputs) != 1:
                raise UsageError(f"--calibration {file}: an .npy sample fits a model with one input; it has {inputs}")
            samples.append({inputs[0]: np.load(file, allow_pickle=False)})
            continue
        with np.load(file, allow_pickle=False) as arrays:
            missing = sorted(set(inputs) - set(arrays.files))
            if missing:
                raise UsageError(f"--calibration {file}: no array for input {missing[0]!r}; it holds {arrays.files}")
            values = {name: arrays[name] for name in inputs}
        if path.is_dir():
            samples.append(values)
        else:  # one .npz: the first axis indexes the samples
            count = min(len(v) for v in values.values())
            samples.extend({n: v[i : i + 1] for n, v in values.items()} for i in range(count))
    if not samples:
        raise UsageError(f"--calibration {path}: no samples")
    return samples[:size]


@dataclass
class Quantizer:
    """Quantizes OpenVINO partitions with NNCF on the calibration samples."""

    samples: list[dict[str, np.ndarray]]
    graph_inputs: set[str]

    def quantize(self, ov_model: ov.Model, input_ports: list[str]) -> tuple[ov.Model, dict[str, Any]]:
        """The partition quantized, and what to record; or the float partition and why it stayed float."""
        outside = [name for name in input_ports if name not in self.graph_inputs]
        if outside:
            return ov_model, {"quantized": False, "reason": f"it reads {outside[0]!r}, computed before it"}
        nncf = _nncf("--quantize")
        data = [[sample[name] for name in input_ports] for sample in self.samples]
        with contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars: not into `--json` output
            quantized = nncf.quantize(ov_model, nncf.Dataset(data), subset_size=len(data))
        return quantized, {
            "quantized": True,
            "method": f"nncf {nncf.__version__} quantize int8",
            "calibration_size": len(data),
            **_accuracy(ov_model, quantized, data),
        }


def _accuracy(float_model: ov.Model, quantized: ov.Model, data: list[list[np.ndarray]]) -> dict[str, Any]:
    """Max absolute and relative difference of each output over the calibration set, and top-1 agreement for
    outputs shaped (batch, classes)."""
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "f32"}
    want_model, got_model = (core.compile_model(m, "CPU", config) for m in (float_model, quantized))
    want_request, got_request = want_model.create_infer_request(), got_model.create_infer_request()
    worst_abs, worst_rel, agree, total = 0.0, 0.0, 0, 0
    for sample in data:
        want = want_request.infer(sample)
        got = got_request.infer(sample)
        for w, g in zip((want[p] for p in want_model.outputs), (got[p] for p in got_model.outputs)):
            if w.dtype.kind != "f" or w.shape != g.shape or not w.size:
                continue
            gap = float(np.abs(w.astype(np.float64) - g).max())
            worst_abs = max(worst_abs, gap)
            worst_rel = max(worst_rel, gap / max(float(np.abs(w).max()), 1e-12))
            if w.ndim == 2 and w.shape[1] > 1:
                agree += int((w.argmax(1) == g.argmax(1)).sum())
                total += w.shape[0]
    result: dict[str, Any] = {"max_abs_difference": worst_abs, "max_relative_difference": worst_rel}
    if total:
        result["top1_agreement"] = agree / total
    return result


@dataclass(frozen=True)
class WeightCompressor:
    """--compress-weights: NNCF's compress_weights on each OpenVINO partition (MatMul and Gemm weights; no data)."""

    mode: str  # a key of COMPRESSIONS
    group_size: int | None = None  # int4 only
    ratio: float | None = None  # int4 only: the share of weights in int4, the rest int8

    def compress(self, ov_model: ov.Model) -> tuple[ov.Model, dict[str, Any]]:
        nncf = _nncf("--compress-weights")
        given = {"group_size": self.group_size, "ratio": self.ratio} if self.mode.startswith("int4") else {}
        given = {k: v for k, v in given.items() if v is not None}
        mode = nncf.CompressWeightsMode[COMPRESSIONS[self.mode]]
        with contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars
            compressed = nncf.compress_weights(ov_model, mode=mode, **given)
        record = {"compressed": True, "method": f"nncf {nncf.__version__} compress_weights {COMPRESSIONS[self.mode]}"}
        return compressed, {**record, **given}


def rewrote(record: dict[str, Any]) -> bool:
    """Whether a partition's quantization record says NNCF changed it (quantized or weight-compressed)."""
    return bool(record.get("quantized") or record.get("compressed"))


def _nncf(option: str) -> Any:
    """NNCF, its own logger at ERROR (nncf.set_log_level also set the root logger's handlers, which hid
    everyone else's warnings)."""
    try:
        import nncf
    except ImportError:
        raise UsageError(f"{option} needs NNCF: pip install 'ovaot[quantize]'") from None
    logging.getLogger("nncf").setLevel(logging.ERROR)
    return nncf
