"""Known OpenVINO defects that change results and that no rewrite avoids: the nodes they hit run in the fallback.

Each entry names the op, the OpenVINO version it was seen on, the symptom and a test that shows it
(tests/test_openvino_defects.py); the capability check refuses matching nodes with that reason. Defects that a
rewrite avoids on the device are ovaot/passes/openvino_defects.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from onnx import GraphProto, NodeProto, TensorProto, numpy_helper

from ovaot.compiler.graph import GraphIndex


@dataclass(frozen=True)
class Defect:
    op_type: str
    seen_on: str  # OpenVINO versions it was seen on
    symptom: str
    hits: Callable[[NodeProto, GraphIndex, dict[str, np.ndarray]], bool]


def _resize_align_corners_by_fractional_scales(node: NodeProto, index: GraphIndex, constants: dict) -> bool:
    """Resize by scales with align_corners, where input size x scale is not a whole number (or not known)."""
    mode = next((a.s.decode() for a in node.attribute if a.name == "coordinate_transformation_mode"), "half_pixel")
    scales_name = node.input[2] if len(node.input) > 2 else ""
    if mode != "align_corners" or not scales_name or (len(node.input) > 3 and node.input[3]):
        return False
    scales = constants.get(scales_name)
    shape = index.value_types.get(node.input[0])
    dims = [d.dim_value if d.HasField("dim_value") else None for d in shape.tensor_type.shape.dim] if shape else []
    if scales is None or not dims or None in dims or len(dims) != scales.size:
        return True
    return any(abs(d * s - round(d * s)) > 1e-6 for d, s in zip(dims, scales.ravel(), strict=True))


def _bit_shift_of_64_bits(node: NodeProto, index: GraphIndex, constants: dict) -> bool:
    shape = index.value_types.get(node.input[0])
    return shape is None or shape.tensor_type.elem_type in (TensorProto.INT64, TensorProto.UINT64)


DEFECTS = [
    Defect(
        "BitShift",
        "2026.4",
        "64-bit values are shifted in 32 bits (3 << 63 gave -2^31, ONNX -2^63)",
        _bit_shift_of_64_bits,
    ),
    Defect(
        "Resize",
        "2026.4",
        "align_corners by scales maps coordinates through the rounded output size; ONNX uses input size x scale "
        "(a 2x4 image scaled by 0.6 gave [1, 4], ONNX [1, 3.142857])",
        _resize_align_corners_by_fractional_scales,
    ),
]


def defect_hits(index: GraphIndex, initializers: dict[str, np.ndarray] | None = None) -> list[Defect | None]:
    """For each node of `index`, the known defect it would meet on OpenVINO, if any."""
    constants = initializers or {}
    by_op = {d.op_type: d for d in DEFECTS}
    result: list[Defect | None] = []
    for node in index.nodes:
        defect = by_op.get(node.op_type) if node.domain in ("", "ai.onnx") else None
        result.append(defect if defect and defect.hits(node, index, constants) else None)
    return result


def initializer_values(graph: GraphProto) -> dict[str, np.ndarray]:
    """The small initializers (shapes, scales, thresholds) by name, for the defect checks to read."""
    return {t.name: numpy_helper.to_array(t) for t in graph.initializer if np.prod(t.dims) <= 64}
