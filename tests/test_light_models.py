"""The nine classification models shipped in the onnx wheel, compiled for CPU_FP32 and checked numerically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import numpy_helper
from onnx.backend.test.runner import Runner

from helpers import (
    ILL_CONDITIONED_SOFTMAX,
    LIGHT_DIR,
    LIGHT_MODELS,
    compile_and_load,
    expose_logits,
    random_feed,
    with_random_weights,
)


def test_all_nine_light_models_are_found():
    assert len(LIGHT_MODELS) == 9


def _onnxruntime(model: onnx.ModelProto, feed: dict) -> list[np.ndarray]:
    return onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)


def _backend_runner_feed(model: onnx.ModelProto, name: str) -> dict[str, np.ndarray]:
    """The input onnx's backend test runner generates for light models."""
    weights = {t.name for t in model.graph.initializer}
    data_inputs = [v for v in model.graph.input if v.name not in weights]
    return {v.name: Runner.generate_dummy_data(v, seed=0, name=name, random=False) for v in data_inputs}


@pytest.mark.parametrize(
    "name",
    [
        n if n in ("squeezenet", "shufflenet", "inception_v1") else pytest.param(n, marks=pytest.mark.slow)
        for n in LIGHT_MODELS
    ],
)  # the two largest (0.5 and 0.35 GB of weights) only in the full suite
def test_light_model_matches_shipped_outputs_and_onnxruntime(name: str, tmp_path: Path):
    model = onnx.load(LIGHT_DIR / f"light_{name}.onnx")
    feed = _backend_runner_feed(model, name)
    if name in ILL_CONDITIONED_SOFTMAX:
        model = expose_logits(model)
    result, session = compile_and_load(model, tmp_path)
    assert [p.kind for p in result.manifest.partitions] == ["openvino"]

    compared = 1 if name in ILL_CONDITIONED_SOFTMAX else 0  # the logits, or the model's own output
    outputs = session.run(None, feed)
    if compared:
        np.testing.assert_allclose(outputs[1], _onnxruntime(model, feed)[1], rtol=1e-6)
    else:
        expected = numpy_helper.to_array(onnx.load_tensor(str(LIGHT_DIR / f"light_{name}_output_0.pb")))
        np.testing.assert_allclose(outputs[0], expected, rtol=1e-3, atol=1e-7)

    random_input = random_feed(model, seed=1)
    np.testing.assert_allclose(
        session.run(None, random_input)[compared], _onnxruntime(model, random_input)[compared], rtol=1e-3, atol=1e-7
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_topology_with_random_weights_matches_onnxruntime(name: str, tmp_path: Path):
    model = with_random_weights(onnx.load(LIGHT_DIR / f"light_{name}.onnx"), seed=hash(name) % 1000)
    assert not any(n.op_type == "ConstantOfShape" for n in model.graph.node)
    _, session = compile_and_load(model, tmp_path)
    feed = random_feed(model, seed=2)
    expected = _onnxruntime(model, feed)
    actual = session.run(None, feed)
    assert len(actual) == len(expected) >= 1
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * float(np.abs(want).max()))
