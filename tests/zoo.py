"""Model-zoo topologies built in code with seeded weights: tiny-YOLOv2, MobileNetV2, fast style transfer, LSTM."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphBuilder:
    """Appends nodes and seeded initializers; every call returns the name of the tensor it made."""

    def __init__(self, name: str, seed: int, prefix: str = "") -> None:
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0
        self.prefix = prefix  # for a subgraph's builder: its names must not meet the outer graph's

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{self.prefix}{hint}_{self.count}"

    def const(self, value: np.ndarray, hint: str = "c") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, shape: tuple[int, ...], fan_in: int | None = None, hint: str = "w") -> str:
        fan_in = fan_in or int(np.prod(shape[1:]))
        return self.const((self.rng.standard_normal(shape) * np.sqrt(1.0 / fan_in)).astype(np.float32), hint)

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, out: str | None = None, **attrs) -> str | list[str]:
        """The node's output name (`out` where given, for one output), or names."""
        names = [out] if out and outputs == 1 else [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self.fresh(op_type), **attrs))
        return names[0] if outputs == 1 else names

    def conv(
        self,
        x: str,
        cin: int,
        cout: int,
        k: int,
        stride: int = 1,
        group: int = 1,
        pad: int | None = None,
        bias: bool = True,
    ) -> str:
        pad = k // 2 if pad is None else pad
        inputs = [x, self.weight((cout, cin // group, k, k))]
        if bias:
            inputs.append(self.const((self.rng.standard_normal(cout) * 0.05).astype(np.float32), "b"))
        return self.op("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride], pads=[pad] * 4, group=group)

    def batchnorm(self, x: str, c: int) -> str:
        scale = self.const(self.rng.uniform(0.5, 1.5, c).astype(np.float32), "bn_scale")
        bias = self.const((self.rng.standard_normal(c) * 0.1).astype(np.float32), "bn_bias")
        mean = self.const((self.rng.standard_normal(c) * 0.1).astype(np.float32), "bn_mean")
        var = self.const(self.rng.uniform(0.5, 1.5, c).astype(np.float32), "bn_var")
        return self.op("BatchNormalization", [x, scale, bias, mean, var], epsilon=1e-5)

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[tuple[str, int, list]]) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            self.name,
            inputs,
            [helper.make_tensor_value_info(name, elem, shape) for name, elem, shape in outputs],
            initializer=self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)
        onnx.checker.check_model(model)
        return model


def tiny_yolov2(size: int = 256) -> onnx.ModelProto:
    """Conv-BN-LeakyRelu-MaxPool x6, two 3x3 convs of 1024 and a 1x1 detection head of 125 channels."""
    g = GraphBuilder("tiny_yolov2", seed=101)
    x = g.op("Mul", ["image", g.const(np.array(1 / 255.0, np.float32))])
    channels = [3, 16, 32, 64, 128, 256, 512]
    for i in range(6):
        x = g.conv(x, channels[i], channels[i + 1], 3, bias=False)
        x = g.op("LeakyRelu", [g.batchnorm(x, channels[i + 1])], alpha=0.1)
        if i < 5:
            x = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
        else:
            x = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_UPPER")
    for cin in (512, 1024):
        x = g.op("LeakyRelu", [g.batchnorm(g.conv(x, cin, 1024, 3, bias=False), 1024)], alpha=0.1)
    grid = size // 32
    x = g.conv(x, 1024, 125, 1)
    g.nodes[-1].output[0] = "grid"
    return g.model(
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [("grid", TensorProto.FLOAT, [1, 125, grid, grid])],
    )


def mobilenet_v2(size: int = 224, classes: int = 1000) -> onnx.ModelProto:
    """Inverted residual blocks (expand 1x1, depthwise 3x3, project 1x1) with BN and ReLU6 (Clip)."""
    g = GraphBuilder("mobilenet_v2", seed=102)
    lo, hi = g.const(np.array(0.0, np.float32)), g.const(np.array(6.0, np.float32))

    def relu6(t: str) -> str:
        return g.op("Clip", [t, lo, hi])

    x = relu6(g.batchnorm(g.conv("input", 3, 32, 3, stride=2, bias=False), 32))
    cin = 32
    settings = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]
    for expand, cout, repeats, first_stride in settings:
        for r in range(repeats):
            stride = first_stride if r == 0 else 1
            hidden = cin * expand
            y = x if expand == 1 else relu6(g.batchnorm(g.conv(x, cin, hidden, 1, bias=False), hidden))
            y = relu6(g.batchnorm(g.conv(y, hidden, hidden, 3, stride=stride, group=hidden, bias=False), hidden))
            y = g.batchnorm(g.conv(y, hidden, cout, 1, bias=False), cout)
            x = g.op("Add", [x, y]) if stride == 1 and cin == cout else y
            cin = cout
    x = relu6(g.batchnorm(g.conv(x, cin, 1280, 1, bias=False), 1280))
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x])])
    logits = g.op("Gemm", [x, g.weight((classes, 1280)), g.const(np.zeros(classes, np.float32))], transB=1)
    g.nodes.append(helper.make_node("Softmax", [logits], ["probabilities"], name="softmax", axis=1))
    return g.model(
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
        [("probabilities", TensorProto.FLOAT, [1, classes])],
    )


def style_transfer(size: int = 224) -> onnx.ModelProto:
    """Fast neural style: reflect-padded convs with InstanceNormalization, 5 residual blocks, Resize upsampling."""
    g = GraphBuilder("fast_style_transfer", seed=103)

    def conv_in(x: str, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> str:
        pad = g.const(np.array([0, 0, k // 2, k // 2, 0, 0, k // 2, k // 2], np.int64), "pads")
        x = g.conv(g.op("Pad", [x, pad], mode="reflect"), cin, cout, k, stride=stride, pad=0)
        scale = g.const(g.rng.uniform(0.5, 1.5, cout).astype(np.float32), "in_scale")
        bias = g.const((g.rng.standard_normal(cout) * 0.1).astype(np.float32), "in_bias")
        x = g.op("InstanceNormalization", [x, scale, bias], epsilon=1e-5)
        return g.op("Relu", [x]) if relu else x

    x = conv_in("input1", 3, 32, 9)
    x = conv_in(x, 32, 64, 3, stride=2)
    x = conv_in(x, 64, 128, 3, stride=2)
    for _ in range(5):
        y = conv_in(conv_in(x, 128, 128, 3), 128, 128, 3, relu=False)
        x = g.op("Add", [x, y])
    scales = g.const(np.array([1, 1, 2, 2], np.float32), "scales")
    for cin, cout in ((128, 64), (64, 32)):
        x = g.op("Resize", [x, "", scales], mode="nearest")
        x = conv_in(x, cin, cout, 3)
    pad = g.const(np.array([0, 0, 4, 4, 0, 0, 4, 4], np.int64), "pads")
    x = g.conv(g.op("Pad", [x, pad], mode="reflect"), 32, 3, 9, pad=0)
    g.nodes[-1].output[0] = "output1"
    return g.model(
        [helper.make_tensor_value_info("input1", TensorProto.FLOAT, [1, 3, size, size])],
        [("output1", TensorProto.FLOAT, [1, 3, size, size])],
    )


def lstm_sequence(steps: int = 16, features: int = 32, hidden: int = 64, classes: int = 10) -> onnx.ModelProto:
    """An LSTM over a sequence, then a per-step classifier (Squeeze, MatMul, Add, Softmax)."""
    g = GraphBuilder("lstm_sequence", seed=104)
    w = g.weight((1, 4 * hidden, features), fan_in=features)
    r = g.weight((1, 4 * hidden, hidden), fan_in=hidden)
    b = g.const((g.rng.standard_normal((1, 8 * hidden)) * 0.1).astype(np.float32), "lstm_b")
    y, _, _ = g.op("LSTM", ["sequence", w, r, b], outputs=3, hidden_size=hidden)
    y = g.op("Squeeze", [y, g.const(np.array([1], np.int64), "axes")])
    logits = g.op("Add", [g.op("MatMul", [y, g.weight((hidden, classes))]), g.const(np.zeros(classes, np.float32))])
    g.nodes.append(helper.make_node("Softmax", [logits], ["scores"], name="softmax", axis=-1))
    return g.model(
        [helper.make_tensor_value_info("sequence", TensorProto.FLOAT, [steps, 1, features])],
        [("scores", TensorProto.FLOAT, [steps, 1, classes])],
    )


ZOO: dict[str, Callable[[], onnx.ModelProto]] = {
    "tiny_yolov2": tiny_yolov2,
    "mobilenet_v2": mobilenet_v2,
    "style_transfer": style_transfer,
    "lstm_sequence": lstm_sequence,
}
