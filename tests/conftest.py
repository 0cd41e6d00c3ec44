"""Shared helpers: model builders and a compile-then-load round trip through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import ovaot

LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(p.stem.removeprefix("light_") for p in LIGHT_DIR.glob("light_*.onnx"))


def compile_and_load(model: onnx.ModelProto | Path, tmp_path: Path, target: str = "CPU_FP32", **options):
    package = tmp_path / "model.ovpkg"
    result = ovaot.compile(model, target, package, **options)
    return result, ovaot.load(package)


def random_feed(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded standard-normal inputs for every non-initializer graph input (unknown dims become 1)."""
    rng = np.random.default_rng(seed)
    weights = {t.name for t in model.graph.initializer}
    feed = {}
    for value in model.graph.input:
        if value.name in weights:
            continue
        tensor_type = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor_type.shape.dim]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        feed[value.name] = rng.standard_normal(shape).astype(dtype)
    return feed


@pytest.fixture
def tiny_cnn() -> onnx.ModelProto:
    return onnx.load(Path(__file__).parent.parent / "examples" / "tiny_cnn.onnx")
