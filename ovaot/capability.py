"""Which ONNX nodes OpenVINO can run on a device, decided by asking OpenVINO, with a reason for each."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import openvino as ov
from onnx import ModelProto
from openvino.frontend import FrontEndManager

from ovaot.graph import GraphIndex

log = logging.getLogger(__name__)

_FRAMEWORK_NODE = "ONNXFrameworkNode"


@dataclass(frozen=True)
class Support:
    """Whether a node can run on the device, why we believe it, and where that belief comes from."""

    ok: bool
    reason: str
    source: str  # "live-query", "forced", "conversion"


def convert(model_bytes: bytes) -> tuple[ov.Model, bool]:
    """Convert ONNX bytes to an OpenVINO model; unconvertible nodes become framework nodes (partial=True)."""
    try:
        return ov.Core().read_model(model_bytes), False
    except RuntimeError:
        frontend = FrontEndManager().load_by_framework("onnx")
        return frontend.convert_partially(frontend.load(io.BytesIO(model_bytes))), True


class CapabilityQuery:
    """Asks OpenVINO's converter and the device plugin which nodes of a model they take."""

    def __init__(self, core: ov.Core, device: str, config: dict[str, str]) -> None:
        self.core = core
        self.device = device
        self.config = config

    def _query(self, ov_model: ov.Model) -> set[str]:
        try:
            return set(self.core.query_model(ov_model, self.device, self.config))
        except RuntimeError as exc:
            log.debug("query_model failed: %s", exc)
            return set()

    def support(self, model: ModelProto, index: GraphIndex, force_fallback: Iterable[str] = ()) -> list[Support]:
        """One Support per node of `index`, in node order."""
        forced = set(force_fallback)
        ov_model, partial = convert(model.SerializeToString())
        supported_ops = self._query(ov_model)
        # OpenVINO ops carry the ONNX tensor names they compute; map each back to its ONNX node.
        verdicts: dict[int, list[tuple[str, bool]]] = {}
        for op in ov_model.get_ordered_ops():
            if op.get_type_name() in ("Parameter", "Result"):
                continue
            names = {n for out in op.outputs() for n in out.get_names()}
            for node_id in {index.producer[n] for n in names if n in index.producer}:
                verdicts.setdefault(node_id, []).append((op.get_type_name(), op.get_friendly_name() in supported_ops))
        result: list[Support] = []
        for node_id, node in enumerate(index.nodes):
            op = f"{node.domain + '.' if node.domain else ''}{node.op_type}"
            ops = verdicts.get(node_id, [])
            if node.op_type in forced:
                result.append(Support(False, f"{node.op_type} sent to the fallback by --force-fallback", "forced"))
            elif any(type_name == _FRAMEWORK_NODE for type_name, _ in ops):
                result.append(Support(False, f"OpenVINO's ONNX frontend has no conversion for {op}", "conversion"))
            elif all(ok for _, ok in ops):
                result.append(Support(True, f"{self.device} plugin supports {op} (query_model)", "live-query"))
            else:
                result.append(self._single_node(node_id, index, model, op, partial))
        return result

    def _single_node(self, node_id: int, index: GraphIndex, model: ModelProto, op: str, partial: bool) -> Support:
        """Ask again for one node alone: in a partly converted graph, query_model rejects what follows a gap."""
        if not partial:
            return Support(False, f"{self.device} plugin does not support {op} here (query_model)", "live-query")
        unknown = [n for n in index.inputs_of[node_id] if n not in index.value_types]
        if unknown:
            return Support(
                False, f"{op}: input types unknown ({', '.join(unknown)}), cannot ask OpenVINO", "conversion"
            )
        single, _, _ = index.extract(model, [node_id], "single_node")
        try:
            ov_model, was_partial = convert(single.SerializeToString())
        except RuntimeError as exc:
            return Support(False, f"OpenVINO cannot convert {op}: {str(exc).splitlines()[0]}", "conversion")
        if was_partial:
            return Support(False, f"OpenVINO's ONNX frontend has no conversion for {op}", "conversion")
        wanted = {op.get_friendly_name() for op in ov_model.get_ordered_ops() if op.get_type_name() != "Result"}
        if wanted <= self._query(ov_model):
            return Support(True, f"{self.device} plugin supports {op} (query_model, node alone)", "live-query")
        return Support(False, f"{self.device} plugin does not support {op} (query_model, node alone)", "live-query")
