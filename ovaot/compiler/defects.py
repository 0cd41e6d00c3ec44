"""The defect table's `fallback` entries, applied: which nodes each hits. Those run in the fallback.

The table (ovaot/data/openvino_defects.toml, read by ovaot.defect_table) names the op, the OpenVINO versions,
the symptom and the test that shows it; here each fallback entry has the check that finds its nodes, and the
capability check refuses them with the table's reason on the OpenVINO versions it affects. Defects that a
rewrite avoids on the device are ovaot/passes/openvino_defects.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import openvino as ov
from onnx import GraphProto, NodeProto, TensorProto, numpy_helper

from ovaot.compiler.graph import GraphIndex
from ovaot.defect_table import KnownDefect, known_defects

Hits = Callable[[NodeProto, GraphIndex, dict[str, np.ndarray]], bool]


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


# the check of each `fallback` entry of the table, by id
HITS: dict[str, Hits] = {
    "bitshift-64-bit": _bit_shift_of_64_bits,
    "resize-align-corners-fractional-scales": _resize_align_corners_by_fractional_scales,
}


def defect_hits(
    index: GraphIndex, initializers: dict[str, np.ndarray] | None = None, openvino_version: str | None = None
) -> list[KnownDefect | None]:
    """For each node of `index`, the known defect it would meet on OpenVINO (this one by default), if any."""
    constants = initializers or {}
    version = openvino_version or ov.get_version()
    table = known_defects()
    active = [table[i] for i in HITS if table[i].affects(version)]
    result: list[KnownDefect | None] = []
    for node in index.nodes:
        standard = node.domain in ("", "ai.onnx")
        hit = next(
            (d for d in active if standard and d.op == node.op_type and HITS[d.id](node, index, constants)), None
        )
        result.append(hit)
    return result


def initializer_values(graph: GraphProto) -> dict[str, np.ndarray]:
    """The small initializers (shapes, scales, thresholds) by name, for the defect checks to read."""
    return {t.name: numpy_helper.to_array(t) for t in graph.initializer if np.prod(t.dims) <= 64}
