"""Detection topologies of the spec's table, built in code with seeded weights: a YOLOv3-style detector (two
heads, box decoding, NonMaxSuppression and the gathers after it) and a Mask R-CNN-style one (proposals by TopK,
NonMaxSuppression, RoiAlign, a mask head inside If, a Loop over classes as exporters write them)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from zoo import GraphBuilder

IMAGE = 64


def _ints(g: GraphBuilder, values, hint: str = "i") -> str:
    return g.const(np.asarray(values, np.int64), hint)


def _floats(g: GraphBuilder, values, hint: str = "f") -> str:
    return g.const(np.asarray(values, np.float32), hint)


def _conv(g: GraphBuilder, x: str, channels_in: int, channels_out: int, stride: int = 1) -> str:
    return g.op("LeakyRelu", [g.conv(x, channels_in, channels_out, 3, stride)], alpha=0.1)


def _columns(g: GraphBuilder, x: str, start: int, end: int, axis: int) -> str:
    return g.op("Slice", [x, _ints(g, [start]), _ints(g, [end]), _ints(g, [axis])])


def _column(g: GraphBuilder, selected: str, index: int) -> str:
    """Column `index` of NonMaxSuppression's (K, 3) selection, as (K,)."""
    return g.op("Squeeze", [_columns(g, selected, index, index + 1, 1), _ints(g, [1])])


def _head(g: GraphBuilder, features: str, channels: int, anchors: np.ndarray, classes: int, grid: int):
    """One YOLO head: (1, grid*grid*A, 4) corner boxes in pixels and (1, classes, grid*grid*A) scores."""
    count = len(anchors)
    weights = g.rng.standard_normal((count * (5 + classes), channels, 1, 1)).astype(np.float32) * 0.05
    raw = g.op("Conv", [features, _floats(g, weights, "w")])
    raw = g.op("Reshape", [raw, _ints(g, [1, count, 5 + classes, grid, grid])])
    raw = g.op("Transpose", [raw], perm=[0, 3, 4, 1, 2])  # (1, gy, gx, A, 5 + C)
    raw = g.op("Reshape", [raw, _ints(g, [1, grid * grid * count, 5 + classes])])
    cells = np.stack(np.meshgrid(np.arange(grid), np.arange(grid)), axis=-1).reshape(-1, 1, 2)
    offsets = np.repeat(cells, count, axis=1).reshape(1, -1, 2)
    centre = g.op("Add", [g.op("Sigmoid", [_columns(g, raw, 0, 2, 2)]), _floats(g, offsets, "grid")])
    centre = g.op("Mul", [centre, _floats(g, IMAGE / grid)])
    sizes = np.tile(anchors, (grid * grid, 1)).reshape(1, -1, 2)
    clipped = g.op("Clip", [_columns(g, raw, 2, 4, 2), _floats(g, -4), _floats(g, 4)])
    half = g.op("Mul", [g.op("Mul", [g.op("Exp", [clipped]), _floats(g, sizes, "anchors")]), _floats(g, 0.5)])
    boxes = g.op("Concat", [g.op("Sub", [centre, half]), g.op("Add", [centre, half])], axis=2)
    objectness = g.op("Sigmoid", [_columns(g, raw, 4, 5, 2)])
    scores = g.op("Mul", [objectness, g.op("Sigmoid", [_columns(g, raw, 5, 5 + classes, 2)])])
    return boxes, g.op("Transpose", [scores], perm=[0, 2, 1])


def yolov3(seed: int = 0, classes: int = 4) -> onnx.ModelProto:
    """Darknet-like backbone, heads at strides 8 and 16, decoded boxes, NonMaxSuppression, then the detections
    gathered: selected (K, 3) indices, their boxes (K, 4) and scores (K,)."""
    g = GraphBuilder("yolov3", seed)
    x = _conv(g, _conv(g, "image", 3, 8), 8, 16, stride=2)
    fine = _conv(g, _conv(g, x, 16, 16, stride=2), 16, 16, stride=2)  # grid 8
    coarse = _conv(g, fine, 16, 32, stride=2)  # grid 4
    boxes_fine, scores_fine = _head(g, fine, 16, np.array([[6, 8], [12, 10], [10, 20]]), classes, IMAGE // 8)
    boxes_coarse, scores_coarse = _head(g, coarse, 32, np.array([[20, 24], [32, 30], [40, 56]]), classes, IMAGE // 16)
    boxes = g.op("Concat", [boxes_fine, boxes_coarse], axis=1)
    scores = g.op("Concat", [scores_fine, scores_coarse], axis=2)
    limits = [_ints(g, [20]), _floats(g, [0.45]), "score_threshold"]
    selected = g.op("NonMaxSuppression", [boxes, scores, *limits], out="selected")
    box_index, class_index = _column(g, selected, 2), _column(g, selected, 1)
    g.op("Gather", [g.op("Squeeze", [boxes, _ints(g, [0])]), box_index], axis=0, out="detected_boxes")
    flat_scores = g.op("Squeeze", [scores, _ints(g, [0])])  # (C, N)
    total = g.op("Gather", [g.op("Shape", [flat_scores]), _ints(g, 1)])
    flat_index = g.op("Add", [g.op("Mul", [class_index, total]), box_index])
    g.op("Gather", [g.op("Reshape", [flat_scores, _ints(g, [-1])]), flat_index], out="detected_scores")
    return g.model(
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, IMAGE, IMAGE]),
            helper.make_tensor_value_info("score_threshold", TensorProto.FLOAT, [1]),
        ],
        [
            ("selected", TensorProto.INT64, [None, 3]),
            ("detected_boxes", TensorProto.FLOAT, [None, 4]),
            ("detected_scores", TensorProto.FLOAT, [None]),
        ],
    )


def _mask_branch(seed: int, channels: int) -> onnx.GraphProto:
    """The then-branch: RoiAlign of the kept boxes, a conv head, sigmoid masks (K, 1, 7, 7)."""
    g = GraphBuilder("then", seed, prefix="then/")
    pooled = g.op(
        "RoiAlign",
        ["features", "kept_boxes", "kept_batch"],
        output_height=7,
        output_width=7,
        sampling_ratio=2,
        spatial_scale=0.25,
    )
    mask = g.op("Conv", [_conv(g, pooled, channels, 8), g.weight((1, 8, 1, 1))])
    g.op("Sigmoid", [mask], out="masks_then")
    masks = helper.make_tensor_value_info("masks_then", TensorProto.FLOAT, [None, 1, 7, 7])
    return helper.make_graph(g.nodes, "then", [], [masks], g.initializers)


def _empty_masks() -> onnx.GraphProto:
    empty = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    return helper.make_graph(
        [helper.make_node("ConstantOfShape", ["empty_shape"], ["masks_else"], value=empty)],
        "else",
        [],
        [helper.make_tensor_value_info("masks_else", TensorProto.FLOAT, [None, 1, 7, 7])],
        [numpy_helper.from_array(np.array([0, 1, 7, 7], np.int64), "empty_shape")],
    )


def _best_per_class() -> onnx.GraphProto:
    """A Loop body: the best score of class i (exporters write per-class post-processing as Loops)."""
    return helper.make_graph(
        [
            helper.make_node("Gather", ["class_scores", "i"], ["row"], axis=0),
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


def mask_rcnn(seed: int = 1, classes: int = 3) -> onnx.ModelProto:
    """Backbone, per-anchor objectness and boxes, TopK proposals, NonMaxSuppression, then masks by RoiAlign in
    an If (empty when nothing is kept, as exporters write it) and per-class best scores by a Loop."""
    g = GraphBuilder("mask_rcnn", seed)
    channels, grid = 8, IMAGE // 4
    g.op("Identity", [_conv(g, _conv(g, "image", 3, channels, stride=2), channels, channels, stride=2)], out="features")
    objectness = g.op("Sigmoid", [g.op("Conv", ["features", g.weight((1, channels, 1, 1))])])
    objectness = g.op("Reshape", [objectness, _ints(g, [-1])])  # (grid * grid,)
    deltas = g.op("Conv", ["features", g.weight((4, channels, 1, 1))])
    deltas = g.op("Reshape", [g.op("Transpose", [deltas], perm=[0, 2, 3, 1]), _ints(g, [-1, 4])])
    cells = np.stack(np.meshgrid(np.arange(grid), np.arange(grid)), axis=-1).reshape(-1, 2) * 4
    anchors = np.concatenate([cells - 6, cells + 6], axis=1)
    boxes = g.op("Add", [_floats(g, anchors, "anchors"), g.op("Mul", [deltas, _floats(g, 4)])])
    top_scores, top_index = g.op("TopK", [objectness, _ints(g, [64])], outputs=2, axis=0)
    proposals = g.op("Gather", [boxes, top_index], axis=0)
    selected = g.op(
        "NonMaxSuppression",
        [
            g.op("Unsqueeze", [proposals, _ints(g, [0])]),
            g.op("Reshape", [top_scores, _ints(g, [1, 1, -1])]),
            _ints(g, [10]),
            _floats(g, [0.5]),
            "score_threshold",
        ],
    )
    kept = _column(g, selected, 2)
    g.op("Gather", [proposals, kept], axis=0, out="kept_boxes")
    count = g.op("Gather", [g.op("Shape", [kept]), _ints(g, 0)])
    zeros = helper.make_tensor("zero", TensorProto.INT64, [1], [0])
    g.op("ConstantOfShape", [g.op("Unsqueeze", [count, _ints(g, [0])])], out="kept_batch", value=zeros)
    any_kept = g.op("Greater", [count, _ints(g, 0)])
    branches = {"then_branch": _mask_branch(seed + 1, channels), "else_branch": _empty_masks()}
    g.op("If", [any_kept], out="masks", **branches)
    class_scores = g.op("Sigmoid", [g.op("Conv", ["features", g.weight((classes, channels, 1, 1))])])
    g.op("Reshape", [class_scores, _ints(g, [classes, -1])], out="class_scores")
    trips = g.op("Gather", [g.op("Shape", ["class_scores"]), _ints(g, 0)])
    g.op("Loop", [trips, ""], out="best_per_class", body=_best_per_class())
    return g.model(
        [
            helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, IMAGE, IMAGE]),
            helper.make_tensor_value_info("score_threshold", TensorProto.FLOAT, [1]),
        ],
        [
            ("kept_boxes", TensorProto.FLOAT, [None, 4]),
            ("masks", TensorProto.FLOAT, [None, 1, 7, 7]),
            ("best_per_class", TensorProto.FLOAT, [None]),
        ],
    )


def _empty_branch(name: str, elem_type: int, dims: list[int], as_initializer: bool) -> onnx.GraphProto:
    """A branch returning an empty tensor as exporters write it: a Constant node or a branch initializer."""
    value = numpy_helper.from_array(np.zeros(dims, helper.tensor_dtype_to_np_dtype(elem_type)), name)
    nodes = [] if as_initializer else [helper.make_node("Constant", [], [name], value=value)]
    output = helper.make_tensor_value_info(name, elem_type, dims)
    return helper.make_graph(nodes, f"{name}_branch", [], [output], [value] if as_initializer else [])


def torchvision_postprocess(keypoints: int = 5, seed: int = 2) -> onnx.ModelProto:
    """Box post-processing as torchvision's detectors export it: scores over a threshold, then, when any box is
    left, NonMaxSuppression, a Gather and a TopK of the best inside an If (else an empty index list), the boxes,
    scores and labels gathered by the kept indices, and keypoints from a second If (else an empty (0, K, 3)).

    boxes (N, 4), scores (N,), labels (N,) int64, keypoint_logits (N, K, 3) -> boxes (D, 4), scores (D,),
    labels (D,), keypoints (D, K, 3); D is 0 when no score passes the threshold."""
    rng = np.random.default_rng(seed)
    constants = {
        "threshold": np.array(0.5, np.float32),
        "flat": np.array([-1], np.int64),
        "zero": np.array(0, np.int64),
        "axis0": np.array([0], np.int64),
        "axes01": np.array([0, 1], np.int64),
        "most": np.array([20], np.int64),
        "iou": np.array([0.5], np.float32),
        "column2": np.array(2, np.int64),
        "per_image": np.array([10], np.int64),
        "scale": rng.uniform(0.5, 2.0, (1, keypoints, 3)).astype(np.float32),
    }
    nms = helper.make_graph(
        [
            helper.make_node("Unsqueeze", ["candidate_boxes", "axis0"], ["batched_boxes"]),
            helper.make_node("Unsqueeze", ["candidate_scores", "axes01"], ["batched_scores"]),
            helper.make_node("NonMaxSuppression", ["batched_boxes", "batched_scores", "most", "iou"], ["selected"]),
            helper.make_node("Gather", ["selected", "column2"], ["nms_keep"], axis=1),
            helper.make_node("Gather", ["candidate_scores", "nms_keep"], ["kept_scores"], axis=0),
            helper.make_node("Shape", ["kept_scores"], ["kept_count"]),
            helper.make_node("Min", ["kept_count", "per_image"], ["k"]),
            helper.make_node("TopK", ["kept_scores", "k"], ["best_scores", "order"], axis=0),
            helper.make_node("Gather", ["nms_keep", "order"], ["keep_some"], axis=0),
        ],
        "nms_branch",
        [],
        [helper.make_tensor_value_info("keep_some", TensorProto.INT64, [None])],
    )
    keypoint_branch = helper.make_graph(
        [
            helper.make_node("Gather", ["keypoint_logits", "keep"], ["kept_logits"], axis=0),
            helper.make_node("Mul", ["kept_logits", "scale"], ["keypoints_some"]),
        ],
        "keypoint_branch",
        [],
        [helper.make_tensor_value_info("keypoints_some", TensorProto.FLOAT, [None, keypoints, 3])],
    )
    nodes = [
        helper.make_node("Greater", ["scores", "threshold"], ["passes"]),
        helper.make_node("NonZero", ["passes"], ["passing"]),
        helper.make_node("Reshape", ["passing", "flat"], ["candidates"]),
        helper.make_node("Gather", ["boxes", "candidates"], ["candidate_boxes"], axis=0),
        helper.make_node("Gather", ["scores", "candidates"], ["candidate_scores"], axis=0),
        helper.make_node("Size", ["candidate_scores"], ["candidate_count"]),
        helper.make_node("Equal", ["candidate_count", "zero"], ["none"]),
        helper.make_node(
            "If",
            ["none"],
            ["keep_local"],
            then_branch=_empty_branch("no_keep", TensorProto.INT64, [0], as_initializer=False),
            else_branch=nms,
        ),
        helper.make_node("Gather", ["candidates", "keep_local"], ["keep"], axis=0),
        helper.make_node("Gather", ["boxes", "keep"], ["detected_boxes"], axis=0),
        helper.make_node("Gather", ["scores", "keep"], ["detected_scores"], axis=0),
        helper.make_node("Gather", ["labels", "keep"], ["detected_labels"], axis=0),
        helper.make_node("Size", ["keep"], ["detected_count"]),
        helper.make_node("Equal", ["detected_count", "zero"], ["nothing"]),
        helper.make_node(
            "If",
            ["nothing"],
            ["detected_keypoints"],
            then_branch=_empty_branch("no_keypoints", TensorProto.FLOAT, [0, keypoints, 3], as_initializer=True),
            else_branch=keypoint_branch,
        ),
    ]
    outputs = [
        helper.make_tensor_value_info("detected_boxes", TensorProto.FLOAT, ["D", 4]),
        helper.make_tensor_value_info("detected_scores", TensorProto.FLOAT, ["D"]),
        helper.make_tensor_value_info("detected_labels", TensorProto.INT64, ["D"]),
        helper.make_tensor_value_info("detected_keypoints", TensorProto.FLOAT, ["D", keypoints, 3]),
    ]
    graph = helper.make_graph(
        nodes,
        "torchvision_postprocess",
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N"]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, ["N"]),
            helper.make_tensor_value_info("keypoint_logits", TensorProto.FLOAT, ["N", keypoints, 3]),
        ],
        outputs,
        [numpy_helper.from_array(v, k) for k, v in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    return model


def postprocess_inputs(count: int, passing: int, keypoints: int = 5, seed: int = 4) -> dict[str, np.ndarray]:
    """`count` candidate boxes, `passing` of them scored over the threshold (0: no detection)."""
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 50, (count, 2)).astype(np.float32)
    scores = rng.uniform(0.0, 0.45, count).astype(np.float32)
    scores[rng.permutation(count)[:passing]] = rng.uniform(0.55, 1.0, passing)
    return {
        "boxes": np.concatenate([corners, corners + rng.uniform(5, 20, (count, 2))], axis=1).astype(np.float32),
        "scores": scores,
        "labels": rng.integers(1, 5, count).astype(np.int64),
        "keypoint_logits": rng.standard_normal((count, keypoints, 3)).astype(np.float32),
    }
