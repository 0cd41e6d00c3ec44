"""The spec's detection topologies (yolov3, mask_rcnn), built in code: compiled with default options, they match
onnxruntime with detections and with none (a threshold nothing passes), and `ovaot inspect` shows where each part
runs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnxruntime
import pytest

import ovaot

from detection_models import IMAGE, mask_rcnn, yolov3

MODELS = {"yolov3": yolov3, "mask_rcnn": mask_rcnn}


@pytest.fixture(scope="module", params=sorted(MODELS))
def compiled(request, tmp_path_factory):
    model = MODELS[request.param]()
    package = tmp_path_factory.mktemp(request.param) / "detector.ovpkg"
    ovaot.compile(model, "CPU", package)
    return request.param, model, package


@pytest.mark.parametrize("threshold", [0.2, 1.0], ids=["detections", "none"])
def test_detector_matches_onnxruntime(compiled, threshold):
    name, model, package = compiled
    session = ovaot.load(package)
    reference = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(3).standard_normal((1, 3, IMAGE, IMAGE)).astype(np.float32)
    feed = {"image": image, "score_threshold": np.array([threshold], np.float32)}
    got, want = session.run(None, feed), reference.run(None, feed)
    if threshold < 0.5:
        assert len(want[0]) > 0, "the seeded detector should detect something at a low threshold"
    else:
        assert len(want[0]) == 0
    got, want = _canonical(got), _canonical(want)
    for output, g, w in zip(reference.get_outputs(), got, want, strict=True):
        assert g.shape == w.shape, f"{name} {output.name}: {g.shape} != {w.shape}"
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4, err_msg=f"{name} {output.name}")


def _canonical(outputs: list[np.ndarray]) -> list[np.ndarray]:
    """Detections in (batch, class, box) order, every per-detection output alike: ONNX leaves the order of equal
    scores open, and scores a float step apart may come out in either order."""
    first = outputs[0]
    if first.ndim != 2 or first.shape[1] != 3 or first.dtype != np.int64:
        return outputs
    order = np.lexsort(first.T[::-1])
    return [o[order] if o.shape[:1] == first.shape[:1] else o for o in outputs]


def test_inspect_shows_where_each_part_runs(compiled):
    _, _, package = compiled
    shown = subprocess.run(
        [sys.executable, "-m", "ovaot", "inspect", str(package)], capture_output=True, text=True, check=True
    ).stdout
    assert "NonMaxSuppression" in shown and "partition 0" in shown
