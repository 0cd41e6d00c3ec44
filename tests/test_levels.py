"""All four optimisation levels on the light models and the model zoo: same outputs as onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import ovaot

from helpers import ILL_CONDITIONED_SOFTMAX, LIGHT_DIR, LIGHT_MODELS, expose_logits, random_feed
from zoo import ZOO

LEVELS = ["disable_all", "basic", "extended", "all"]


def _check(model: onnx.ModelProto, level: str, tmp_path: Path, first_output: int = 0) -> ovaot.CompileResult:
    result = ovaot.compile(model, "CPU_FP32", tmp_path / f"{level}.ovpkg", opt_level=level)
    session = ovaot.load(tmp_path / f"{level}.ovpkg")
    feed = random_feed(model, seed=5)
    expected = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, feed
    )
    for got, want in list(zip(session.run(None, feed), expected))[first_output:]:
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    assert result.manifest.options["opt_level"] == level
    return result


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", LIGHT_MODELS)
def test_light_models_at_every_level(name: str, level: str, tmp_path: Path):
    model = onnx.load(LIGHT_DIR / f"light_{name}.onnx")
    if name in ILL_CONDITIONED_SOFTMAX:
        _check(expose_logits(model), level, tmp_path, first_output=1)
    else:
        _check(model, level, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_models_at_every_level(name: str, level: str, tmp_path: Path):
    result = _check(ZOO[name](), level, tmp_path)
    assert [p.kind for p in result.manifest.partitions] == ["openvino"]


def test_extended_level_folds_batch_norm_into_conv(tmp_path: Path):
    model = ZOO["mobilenet_v2"]()
    ops = {}
    for level in ("basic", "extended"):
        manifest = ovaot.compile(model, "CPU_FP32", tmp_path / f"{level}.ovpkg", opt_level=level).manifest
        ops[level] = [n.op_type for p in manifest.partitions for n in p.nodes]
    assert ops["basic"].count("BatchNormalization") == 52 and ops["extended"].count("BatchNormalization") == 0


def test_lowering_runs_at_every_level_unless_disabled(tmp_path: Path):
    model = onnx.parser.parse_model("""
        <ir_version: 8, opset_import: ["" : 17, "ai.onnx.ml" : 3]>
        g (float[2, 3] x) => (float[2, 3] y) {
          a = Relu (x)
          b = ai.onnx.ml.Scaler <offset = [0.5, 1.0, -1.0], scale = [2.0, 0.5, 1.0]> (a)
          y = Tanh (b)
        }
    """)
    lowered = ovaot.compile(model, "CPU_FP32", tmp_path / "l.ovpkg", opt_level="disable_all").manifest
    kept = ovaot.compile(
        model, "CPU_FP32", tmp_path / "k.ovpkg", opt_level="all", disable_passes=["lower_ml_preprocessing"]
    ).manifest
    assert [p.kind for p in lowered.partitions] == ["openvino"]
    # Tanh is typed by a seeded run of the Scaler (ovaot.compiler.type_inference.types_from_a_run): on the device
    assert [p.kind for p in kept.partitions] == ["openvino", "fallback", "openvino"]
    x = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    (want,) = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
    for package in ("l.ovpkg", "k.ovpkg"):
        np.testing.assert_allclose(ovaot.load(tmp_path / package).run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-6)


def test_fold_limit_keeps_large_generated_weights_out_of_the_package(tmp_path: Path):
    model = onnx.load(LIGHT_DIR / "light_squeezenet.onnx")
    none = ovaot.compile(model, "CPU_FP32", tmp_path / "n.ovpkg", opt_level="all", fold_limit_bytes=0).manifest
    small = ovaot.compile(model, "CPU_FP32", tmp_path / "s.ovpkg", opt_level="all").manifest
    big = ovaot.compile(model, "CPU_FP32", tmp_path / "b.ovpkg", opt_level="all", fold_limit_bytes=1 << 30).manifest
    assert none.options["fold_limit_bytes"] == 0 and small.options["fold_limit_bytes"] == 1 << 20

    def ir_weights(manifest) -> int:
        return sum(manifest.members[p.artifacts["ir_bin"]].size for p in manifest.partitions)

    # squeezenet's weights are all ConstantOfShape outputs: folded only as far as the limit allows.
    assert ir_weights(none) < 100_000 < ir_weights(small) < ir_weights(big) and ir_weights(big) > 3_000_000


def test_save_temps_and_verify_passes(tmp_path: Path):
    model = ZOO["lstm_sequence"]()
    temps = tmp_path / "temps"
    ovaot.compile(
        model,
        "CPU_FP32",
        tmp_path / "m.ovpkg",
        opt_level="all",
        verify_passes=True,
        save_temps=temps,
        force_fallback=["Softmax"],
    )
    saved = sorted(p.name for p in (temps / "passes").iterdir())
    assert saved[0] == "00-input.onnx" and saved[-1].endswith("fold_constants.onnx")
    assert sorted(p.name for p in (temps / "partitions").iterdir()) == [
        "target-000-CPU.onnx",
        "target-001-fallback.onnx",
    ]
    assert (temps / "manifest.json").read_text() == ovaot.load(tmp_path / "m.ovpkg").manifest.to_json()
    for path in (temps / "passes").iterdir():
        onnx.checker.check_model(onnx.load(path))
