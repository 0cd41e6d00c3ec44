"""Detection topologies of the spec's table, built in code with seeded weights: a YOLOv3-style detector (two
heads, box decoding, NonMaxSuppression and the gathers after it) and a Mask R-CNN-style one (proposals by TopK,
NonMaxSuppression, RoiAlign, a mask head inside If, a Loop over classes as exporters write them)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IMAGE = 64


class _Graph:
    def __init__(self, seed: int, prefix: str = "") -> None:
        self.rng = np.random.default_rng(seed)
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, value, hint: str = "c", dtype=None) -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, out: str | None = None, **attrs) -> str:
        output = out or self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], **attrs))
        return output

    def conv(self, x: str, channels_in: int, channels_out: int, kernel: int = 3, stride: int = 1) -> str:
        weight = (self.rng.standard_normal((channels_out, channels_in, kernel, kernel)) * 0.3).astype(np.float32)
        bias = (self.rng.standard_normal(channels_out) * 0.1).astype(np.float32)
        pad = kernel // 2
        y = self.op("Conv", x, self.const(weight, "w"), self.const(bias, "b"), pads=[pad] * 4, strides=[stride] * 2)
        return self.op("LeakyRelu", y, alpha=0.1)

    def model(self, inputs: list, outputs: list) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "detector", inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        onnx.checker.check_model(model, full_check=True)
        return model


def _head(g: _Graph, features: str, channels: int, anchors: np.ndarray, classes: int, grid: int) -> tuple[str, str]:
    """One YOLO head: (1, grid*grid*A, 4) corner boxes in pixels and (1, classes, grid*grid*A) scores."""
    count = len(anchors)
    raw = g.op(
        "Conv",
        features,
        g.const(g.rng.standard_normal((count * (5 + classes), channels, 1, 1)).astype(np.float32) * 0.3, "w"),
    )
    raw = g.op("Reshape", raw, g.const([1, count, 5 + classes, grid, grid], "shape", np.int64))
    raw = g.op("Transpose", raw, perm=[0, 3, 4, 1, 2])  # (1, gy, gx, A, 5 + C)
    raw = g.op("Reshape", raw, g.const([1, grid * grid * count, 5 + classes], "shape", np.int64))

    def part(start: int, end: int) -> str:
        return g.op(
            "Slice", raw, g.const([start], "s", np.int64), g.const([end], "e", np.int64), g.const([2], "a", np.int64)
        )

    cells = np.stack(np.meshgrid(np.arange(grid), np.arange(grid)), axis=-1).reshape(-1, 1, 2)
    offsets = np.repeat(cells, count, axis=1).reshape(1, -1, 2).astype(np.float32)
    stride = IMAGE / grid
    centre = g.op(
        "Mul", g.op("Add", g.op("Sigmoid", part(0, 2)), g.const(offsets, "grid")), g.const(np.float32(stride))
    )
    sizes = np.tile(anchors, (grid * grid, 1)).reshape(1, -1, 2).astype(np.float32)
    size = g.op(
        "Mul",
        g.op("Exp", g.op("Clip", part(2, 4), g.const(np.float32(-4)), g.const(np.float32(4)))),
        g.const(sizes, "anchors"),
    )
    half = g.op("Mul", size, g.const(np.float32(0.5)))
    boxes = g.op("Concat", g.op("Sub", centre, half), g.op("Add", centre, half), axis=2)
    scores = g.op("Mul", g.op("Sigmoid", part(4, 5)), g.op("Sigmoid", part(5, 5 + classes)))
    return boxes, g.op("Transpose", scores, perm=[0, 2, 1])


def yolov3(seed: int = 0, classes: int = 4) -> onnx.ModelProto:
    """Darknet-like backbone, heads at strides 8 and 16, decoded boxes, NonMaxSuppression, then the detections
    gathered: selected (K, 3) indices, their boxes (K, 4) and scores (K,)."""
    g = _Graph(seed)
    x = g.conv("image", 3, 8)
    x = g.conv(x, 8, 16, stride=2)
    fine = g.conv(x, 16, 16, stride=2)  # stride 4 -> grid 16 at 64 px ... stride 8 after the next
    fine = g.conv(fine, 16, 16, stride=2)  # grid 8
    coarse = g.conv(fine, 16, 32, stride=2)  # grid 4
    boxes_fine, scores_fine = _head(g, fine, 16, np.array([[6, 8], [12, 10], [10, 20]]), classes, IMAGE // 8)
    boxes_coarse, scores_coarse = _head(g, coarse, 32, np.array([[20, 24], [32, 30], [40, 56]]), classes, IMAGE // 16)
    boxes = g.op("Concat", boxes_fine, boxes_coarse, axis=1, out="boxes")
    scores = g.op("Concat", scores_fine, scores_coarse, axis=2, out="scores")
    selected = g.op(
        "NonMaxSuppression",
        boxes,
        scores,
        g.const([20], "most", np.int64),
        g.const([0.45], "iou", np.float32),
        "score_threshold",
        out="selected",
    )
    box_index = g.op(
        "Squeeze",
        g.op("Slice", selected, g.const([2], "s", np.int64), g.const([3], "e", np.int64), g.const([1], "a", np.int64)),
        g.const([1], "ax", np.int64),
    )
    class_index = g.op(
        "Squeeze",
        g.op("Slice", selected, g.const([1], "s", np.int64), g.const([2], "e", np.int64), g.const([1], "a", np.int64)),
        g.const([1], "ax", np.int64),
    )
    g.op("Gather", g.op("Squeeze", boxes, g.const([0], "ax", np.int64)), box_index, axis=0, out="detected_boxes")
    flat_scores = g.op("Squeeze", scores, g.const([0], "ax", np.int64))  # (C, N)
    total = g.op("Gather", g.op("Shape", flat_scores), g.const(1, "one", np.int64))
    flat_index = g.op("Add", g.op("Mul", class_index, total), box_index)
    g.op("Gather", g.op("Reshape", flat_scores, g.const([-1], "flat", np.int64)), flat_index, out="detected_scores")
    return g.model(
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, IMAGE, IMAGE]),
            helper.make_tensor_value_info("score_threshold", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3]),
            helper.make_tensor_value_info("detected_boxes", TensorProto.FLOAT, [None, 4]),
            helper.make_tensor_value_info("detected_scores", TensorProto.FLOAT, [None]),
        ],
    )


def _mask_branch(g_seed: int, channels: int) -> onnx.GraphProto:
    """The then-branch: RoiAlign of the kept boxes, a conv head, sigmoid masks (K, 1, 7, 7)."""
    g = _Graph(g_seed, prefix="then/")
    pooled = g.op(
        "RoiAlign",
        "features",
        "kept_boxes",
        "kept_batch",
        output_height=7,
        output_width=7,
        sampling_ratio=2,
        spatial_scale=0.25,
    )
    head = g.conv(pooled, channels, 8)
    mask = g.op("Conv", head, g.const(g.rng.standard_normal((1, 8, 1, 1)).astype(np.float32) * 0.3, "w"))
    g.op("Sigmoid", mask, out="masks_then")
    return helper.make_graph(
        g.nodes,
        "then",
        [],
        [helper.make_tensor_value_info("masks_then", TensorProto.FLOAT, [None, 1, 7, 7])],
        g.initializers,
    )


def mask_rcnn(seed: int = 1, classes: int = 3) -> onnx.ModelProto:
    """Backbone, per-anchor objectness and boxes, TopK proposals, NonMaxSuppression, then masks by RoiAlign in
    an If (empty when nothing is kept, as exporters write it) and per-class best scores by a Loop."""
    g = _Graph(seed)
    channels = 8
    features = g.conv(g.conv("image", 3, channels, stride=2), channels, channels, stride=2)  # (1, C, 16, 16)
    g.op("Identity", features, out="features")
    grid = IMAGE // 4
    objectness = g.op("Conv", "features", g.const(g.rng.standard_normal((1, channels, 1, 1)).astype(np.float32), "w"))
    objectness = g.op("Reshape", g.op("Sigmoid", objectness), g.const([-1], "flat", np.int64))  # (256,)
    deltas = g.op("Conv", "features", g.const(g.rng.standard_normal((4, channels, 1, 1)).astype(np.float32) * 0.2, "w"))
    deltas = g.op("Reshape", g.op("Transpose", deltas, perm=[0, 2, 3, 1]), g.const([-1, 4], "shape", np.int64))
    cells = np.stack(np.meshgrid(np.arange(grid), np.arange(grid)), axis=-1).reshape(-1, 2).astype(np.float32) * 4
    anchors = np.concatenate([cells - 6, cells + 6], axis=1).astype(np.float32)
    boxes = g.op("Add", g.const(anchors, "anchors"), g.op("Mul", deltas, g.const(np.float32(4))))
    top_scores, top_index = (g.name("top_scores"), g.name("top_index"))
    g.nodes.append(
        helper.make_node("TopK", [objectness, g.const([64], "k", np.int64)], [top_scores, top_index], axis=0)
    )
    proposals = g.op("Gather", boxes, top_index, axis=0)
    selected = g.op(
        "NonMaxSuppression",
        g.op("Unsqueeze", proposals, g.const([0], "ax", np.int64)),
        g.op("Reshape", top_scores, g.const([1, 1, -1], "shape", np.int64)),
        g.const([10], "most", np.int64),
        g.const([0.5], "iou", np.float32),
        "score_threshold",
    )
    kept = g.op(
        "Squeeze",
        g.op("Slice", selected, g.const([2], "s", np.int64), g.const([3], "e", np.int64), g.const([1], "a", np.int64)),
        g.const([1], "ax", np.int64),
    )
    g.op("Gather", proposals, kept, axis=0, out="kept_boxes")
    count = g.op("Gather", g.op("Shape", kept), g.const(0, "zero", np.int64))
    g.op(
        "ConstantOfShape",
        g.op("Unsqueeze", count, g.const([0], "ax", np.int64)),
        out="kept_batch",
        value=helper.make_tensor("v", TensorProto.INT64, [1], [0]),
    )
    empty = helper.make_graph(
        [
            helper.make_node(
                "ConstantOfShape",
                ["empty_shape"],
                ["masks_else"],
                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0]),
            )
        ],
        "else",
        [],
        [helper.make_tensor_value_info("masks_else", TensorProto.FLOAT, [None, 1, 7, 7])],
        [numpy_helper.from_array(np.array([0, 1, 7, 7], np.int64), "empty_shape")],
    )
    any_kept = g.op("Greater", count, g.const(0, "zero", np.int64))
    g.nodes.append(
        helper.make_node("If", [any_kept], ["masks"], then_branch=_mask_branch(seed + 1, channels), else_branch=empty)
    )
    # per-class best score, as a Loop over classes (exporters write per-class post-processing this way)
    class_scores = g.op(
        "Sigmoid",
        g.op("Conv", "features", g.const(g.rng.standard_normal((classes, channels, 1, 1)).astype(np.float32), "w")),
    )
    class_scores = g.op("Reshape", class_scores, g.const([classes, -1], "shape", np.int64))
    body = helper.make_graph(
        [
            helper.make_node("Gather", ["class_scores_outer", "i"], ["row"], axis=0),
            helper.make_node("ReduceMax", ["row"], ["best"], keepdims=0),
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
        ],
        "per_class",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("best", TensorProto.FLOAT, []),
        ],
    )
    g.op("Identity", class_scores, out="class_scores_outer")
    trips = g.op("Gather", g.op("Shape", class_scores), g.const(0, "zero", np.int64))
    g.nodes.append(helper.make_node("Loop", [trips, ""], ["best_per_class"], body=body))
    return g.model(
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, IMAGE, IMAGE]),
            helper.make_tensor_value_info("score_threshold", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("kept_boxes", TensorProto.FLOAT, [None, 4]),
            helper.make_tensor_value_info("masks", TensorProto.FLOAT, [None, 1, 7, 7]),
            helper.make_tensor_value_info("best_per_class", TensorProto.FLOAT, [None]),
        ],
    )
