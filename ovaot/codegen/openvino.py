"""An OpenVINO partition: ONNX subgraph -> OpenVINO model -> IR (xml+bin) and exported compiled blobs."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import openvino as ov
from onnx import ModelProto

from ovaot.errors import CompileError
from ovaot.options import ProviderOptions

log = logging.getLogger(__name__)


def device_config(core: ov.Core | None, device: str, precision: str | None, options: ProviderOptions) -> dict[str, str]:
    """OpenVINO properties for one device; CPU_FP32 and CPU ask for f32 explicitly.

    `core` is None for a device this host does not have: the properties are recorded as asked.
    """
    config: dict[str, str] = {}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    config.update(options.openvino_properties(device))
    if options.enable_vpu_fast_compile and core is not None:
        log.warning("enable_vpu_fast_compile has no equivalent on %s; it is recorded in the manifest only", device)
    if core is not None and device != "AUTO":
        supported = core.get_property(device, "SUPPORTED_PROPERTIES")
        for key in [k for k in config if k not in supported]:
            log.warning("%s does not support the property %s; leaving it out", device, key)
            del config[key]
    return config


def convert_partition(core: ov.Core, subgraph: ModelProto) -> ov.Model:
    """The subgraph as an OpenVINO model whose op names do not depend on what this process did before."""
    try:
        model = core.read_model(subgraph.SerializeToString())
    except RuntimeError as exc:
        raise CompileError(f"OpenVINO cannot convert partition {subgraph.graph.name}: {exc}") from None
    return with_stable_names(model, subgraph.graph.name)


def with_stable_names(model: ov.Model, name: str) -> ov.Model:
    """`model` named `name`, its ops numbered in order.

    The ONNX frontend names helper ops from a process-wide counter (Constant_1131), so the IR would depend on
    what this process converted before.
    """
    model.set_friendly_name(name)
    for number, op in enumerate(model.get_ordered_ops()):
        if op.get_type_name() not in ("Parameter", "Result"):
            op.set_friendly_name(f"{op.get_type_name()}_{number}")
    return model


def lost_outputs(ov_model: ov.Model, produces: list[str]) -> list[str]:
    """Tensors the partition must produce that no output of the OpenVINO model carries."""
    available = {name for output in ov_model.outputs for name in output.get_names()}
    return [name for name in produces if name not in available]


def passthrough_outputs(ov_model: ov.Model, consumes: list[str]) -> list[str]:
    """Tensors the partition produces that OpenVINO wires straight to an input, which it then renames.

    The ONNX frontend turns an inference Dropout into a parameter feeding a result and gives the parameter
    the output's name: nothing tells which input it was. The nodes producing these run in the fallback.
    """
    renamed = [p.output(0).get_names() for p in ov_model.get_parameters()]
    return sorted(name for names in renamed if not names & set(consumes) for name in names)


def save_ir(ov_model: ov.Model, compress_to_fp16: bool, folder: Path) -> tuple[Path, Path]:
    """Write the IR into a new folder in `folder`; its xml and bin files. FP16 targets store FP16 weights.

    The files are what the export worker compiles and what the package holds: the weights are not kept in
    memory as well.
    """
    xml_path = Path(tempfile.mkdtemp(prefix="ir-", dir=folder)) / "model.xml"
    ov.save_model(ov_model, str(xml_path), compress_to_fp16=compress_to_fp16)
    return xml_path, xml_path.with_suffix(".bin")
