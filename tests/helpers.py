"""Helpers the tests share: where the test data lies, model feeds, and a compile-then-load round trip.

Imported as a top-level module (pyproject's pytest `pythonpath`), never through the checkout: the tests run
against the installed ovaot, and the checkout's root is not on sys.path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

import ovaot

ROOT = Path(__file__).resolve().parent.parent  # the checkout: test data and build inputs, never imported
EXAMPLES = ROOT / "examples"
LIGHT_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "light"
LIGHT_MODELS = sorted(p.stem.removeprefix("light_") for p in LIGHT_DIR.glob("light_*.onnx"))

# With all-ones weights, squeezenet's 1000 logits for the runner's input are equal in exact arithmetic
# (about 9.5e9, where one float32 ulp is 1024), so its softmax is decided by summation-order rounding:
# onnxruntime sums every channel in the same order and gets 0.001 everywhere; OpenVINO's blocked kernels
# round some channels one ulp up. For it, the logits are compared instead of the softmax.
ILL_CONDITIONED_SOFTMAX = {"squeezenet"}


def compile_and_load(model: onnx.ModelProto | Path, tmp_path: Path, target: str = "CPU_FP32", **options):
    package = tmp_path / "model.ovpkg"
    result = ovaot.compile(model, target, package, **options)
    return result, ovaot.load(package)


def random_feed(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded standard-normal inputs for every non-initializer graph input (dynamic dims become 1)."""
    rng = np.random.default_rng(seed)
    weights = {t.name for t in model.graph.initializer}
    feed = {}
    for value in model.graph.input:
        if value.name in weights:
            continue
        tensor_type = value.type.tensor_type
        shape = [d.dim_value if d.dim_value > 0 else 1 for d in tensor_type.shape.dim]  # -1 and 0 are dynamic too
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
        feed[value.name] = rng.standard_normal(shape).astype(dtype)
    return feed


def expose_logits(model: onnx.ModelProto) -> onnx.ModelProto:
    """Add the input of the last Softmax, if any, as an extra graph output (typed by shape inference)."""
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"]
    if softmax:
        inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
        model.graph.output.extend(v for v in inferred if v.name == softmax[-1].input[0])
        assert len(model.graph.output) == 2
    return model
