"""Write examples/tiny_cnn.onnx (a small image classifier with seeded weights) and a sample input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

HERE = Path(__file__).parent

TEXT = """
<ir_version: 8, opset_import: ["" : 17]>
tiny_cnn (float[N, 1, 28, 28] image) => (float[N, 10] probabilities) {
  c1 = Conv <pads = [1, 1, 1, 1]> (image, w1, b1)
  r1 = Relu (c1)
  p1 = MaxPool <kernel_shape = [2, 2], strides = [2, 2]> (r1)
  c2 = Conv <pads = [1, 1, 1, 1]> (p1, w2, b2)
  r2 = Relu (c2)
  g = GlobalAveragePool (r2)
  f = Flatten (g)
  logits = Gemm <transB = 1> (f, w3, b3)
  probabilities = Softmax <axis = 1> (logits)
}
"""


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(2026)
    model = onnx.parser.parse_model(TEXT)
    shapes = {"w1": (8, 1, 3, 3), "b1": (8,), "w2": (16, 8, 3, 3), "b2": (16,), "w3": (10, 16), "b3": (10,)}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 10
        value = rng.normal(0.0, 1.0 / np.sqrt(fan_in), size=shape).astype(np.float32)
        model.graph.initializer.append(numpy_helper.from_array(value, name))
    onnx.checker.check_model(model, full_check=True)
    return model


if __name__ == "__main__":
    onnx.save(build(), HERE / "tiny_cnn.onnx")
    image = np.random.default_rng(7).random((1, 1, 28, 28), dtype=np.float32)
    np.save(HERE / "tiny_cnn_input.npy", image)
