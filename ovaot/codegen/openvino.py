"""An OpenVINO partition: ONNX subgraph -> OpenVINO model -> IR (xml+bin) and an exported compiled blob."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import openvino as ov
from onnx import ModelProto

from ovaot.errors import CompileError


@dataclass(frozen=True)
class OpenVINOArtifacts:
    xml: bytes
    weights: bytes
    blob: bytes
    reported_precision: str


def compile_config(precision: str | None) -> dict[str, str]:
    """OpenVINO properties for a precision; the CPU_FP32 target asks for f32 explicitly."""
    return {"INFERENCE_PRECISION_HINT": precision} if precision else {}


def compile_partition(
    core: ov.Core, subgraph: ModelProto, device: str, config: dict[str, str], produces: list[str]
) -> OpenVINOArtifacts:
    try:
        ov_model = core.read_model(subgraph.SerializeToString())
    except RuntimeError as exc:
        raise CompileError(f"OpenVINO cannot convert partition {subgraph.graph.name}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="ovaot-ir-") as tmp:
        xml_path = Path(tmp) / "model.xml"
        ov.save_model(ov_model, str(xml_path), compress_to_fp16=config.get("INFERENCE_PRECISION_HINT") == "f16")
        xml, weights = xml_path.read_bytes(), xml_path.with_suffix(".bin").read_bytes()
    try:
        compiled = core.compile_model(ov_model, device, config)
    except RuntimeError as exc:
        raise CompileError(f"OpenVINO cannot compile partition {subgraph.graph.name} for {device}: {exc}") from None
    available = {name for output in compiled.outputs for name in output.get_names()}
    missing = [name for name in produces if name not in available]
    if missing:
        raise CompileError(f"partition {subgraph.graph.name}: OpenVINO lost output tensors {missing}")
    blob = compiled.export_model()
    blob = blob.getvalue() if hasattr(blob, "getvalue") else bytes(blob)
    reported = compiled.get_property("INFERENCE_PRECISION_HINT") if device.startswith("CPU") else None
    precision = reported.to_string() if isinstance(reported, ov.Type) else str(reported or "device default")
    return OpenVINOArtifacts(xml=xml, weights=weights, blob=blob, reported_precision=precision)
