"""Which ONNX nodes OpenVINO can run on a device, decided by asking OpenVINO, with a reason for each."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import onnx
import openvino as ov
from onnx import ModelProto
from openvino.frontend import FrontEndManager

from ovaot.compiler.defects import defect_hits, initializer_values
from ovaot.compiler.graph import GraphIndex
from ovaot.defect_table import KnownDefect
from ovaot.errors import UsageError, first_line
from ovaot.format.manifest import SupportSource
from ovaot.targets import plugin_of

log = logging.getLogger(__name__)

_FRAMEWORK_NODE = "ONNXFrameworkNode"


@dataclass(frozen=True)
class Support:
    """Whether a node can run on the device, why we believe it, and where that belief comes from."""

    ok: bool
    reason: str
    source: SupportSource


def convert(model_bytes: bytes) -> tuple[ov.Model, bool]:
    """Convert ONNX bytes to an OpenVINO model; unconvertible nodes become framework nodes (partial=True)."""
    try:
        return ov.Core().read_model(model_bytes), False
    except RuntimeError:
        return convert_partially(model_bytes), True


def convert_partially(model_bytes: bytes) -> ov.Model:
    """The model with the nodes OpenVINO cannot convert left as framework nodes."""
    frontend = FrontEndManager().load_by_framework("onnx")
    return frontend.convert_partially(frontend.load(io.BytesIO(model_bytes)))


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

    def support(
        self, model: ModelProto, index: GraphIndex, converted: tuple[ov.Model, bool] | None = None
    ) -> list[Support]:
        """One Support per node of `index`, in node order; `converted` is convert() of the model if known."""
        defects = [_defect_support(d) for d in defect_hits(index, initializer_values(model.graph))]
        return [
            untransferable or defect or live
            for untransferable, defect, live in zip(
                _untransferable_types(index), defects, self._live_support(model, index, converted), strict=True
            )
        ]

    def _live_support(
        self, model: ModelProto, index: GraphIndex, converted: tuple[ov.Model, bool] | None
    ) -> list[Support]:
        try:
            ov_model, partial = converted or convert(model.SerializeToString())
        except RuntimeError as exc:  # not even a partial conversion: ask node by node
            log.debug("OpenVINO cannot convert the model at all (%s); asking node by node", exc)
            return [self._single_node(i, index, model, _op_name(n), True) for i, n in enumerate(index.nodes)]
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
            op = _op_name(node)
            ops = verdicts.get(node_id, [])
            if any(type_name == _FRAMEWORK_NODE for type_name, _ in ops):
                result.append(_unconverted(index.extract(model, [node_id], "single_node")[0], op))
            elif all(ok for _, ok in ops):
                result.append(
                    Support(True, f"{self.device} plugin supports {op} (query_model)", SupportSource.LIVE_QUERY)
                )
            else:
                result.append(self._single_node(node_id, index, model, op, partial))
        return result

    def _single_node(self, node_id: int, index: GraphIndex, model: ModelProto, op: str, partial: bool) -> Support:
        """Ask again for one node alone: in a partly converted graph, query_model rejects what follows a gap."""
        if not partial:
            return Support(
                False, f"{self.device} plugin does not support {op} here (query_model)", SupportSource.LIVE_QUERY
            )
        unknown = [n for n in index.inputs_of[node_id] if n not in index.value_types]
        if unknown:
            return Support(
                False,
                f"{op}: input types unknown ({', '.join(unknown)}), cannot ask OpenVINO",
                SupportSource.CONVERSION,
            )
        single, _, _ = index.extract(model, [node_id], "single_node")
        try:
            ov_model, was_partial = convert(single.SerializeToString())
        except RuntimeError as exc:
            return Support(False, f"OpenVINO cannot convert {op}: {first_line(exc)}", SupportSource.CONVERSION)
        if was_partial:
            return _unconverted(single, op)
        wanted = {op.get_friendly_name() for op in ov_model.get_ordered_ops() if op.get_type_name() != "Result"}
        if wanted <= self._query(ov_model):
            return Support(
                True, f"{self.device} plugin supports {op} (query_model, node alone)", SupportSource.LIVE_QUERY
            )
        unranked = [i.name for i in single.graph.input if not i.type.tensor_type.HasField("shape")]
        if unranked:  # the CPU plugin's query_model refuses any op whose input has a dynamic rank
            return Support(
                False,
                f"{self.device} plugin does not take {op} on an input of unknown rank ({', '.join(unranked)}) "
                "(query_model, node alone)",
                SupportSource.LIVE_QUERY,
            )
        try:  # what the plugin says when asked to compile it: the query gives no reason
            self.core.compile_model(ov_model, self.device, self.config)
            said = "it compiles alone, yet the query refuses it"
        except RuntimeError as exc:
            said = openvino_message(str(exc)) or first_line(exc)
        return Support(
            False,
            f"{self.device} plugin does not support {op} (query_model, node alone): {said}",
            SupportSource.LIVE_QUERY,
        )


# Element types that OpenVINO's Python API does not exchange as numpy arrays of the same dtype: sub-byte
# types are packed, bfloat16 comes back as float16, and float8 arrays (ml_dtypes) are read as other types
# (DequantizeLinear of float8 448.0 gave -4.0); strings, which OpenVINO 2026 takes (a Gather of string labels)
# but the loader's C binding does not exchange. Nodes reading or writing them run in the fallback.
_UNTRANSFERABLE = {
    onnx.TensorProto.STRING,
    onnx.TensorProto.INT4,
    onnx.TensorProto.UINT4,
    onnx.TensorProto.FLOAT4E2M1,
    onnx.TensorProto.BFLOAT16,
    *(
        getattr(onnx.TensorProto, name)
        for name in ("INT2", "UINT2", "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ", "FLOAT8E8M0")
        if hasattr(onnx.TensorProto, name)
    ),
}


def _unconverted(single: ModelProto, op: str) -> Support:
    """Why the frontend left a node unconverted: its own message where it has one (converting `single`, the
    node alone), not only "no conversion" (an STFT of dynamic length says its signal must be static with rank 3)."""
    message = None
    try:
        ov.Core().read_model(single.SerializeToString())
    except RuntimeError as exc:
        message = conversion_message(str(exc))
    if message:
        return Support(False, f"OpenVINO's ONNX frontend cannot convert {op}: {message}", SupportSource.CONVERSION)
    return Support(False, f"OpenVINO's ONNX frontend has no conversion for {op}", SupportSource.CONVERSION)


def conversion_message(error: str) -> str | None:
    """The first line of what a conversion failure says about the op, past OpenVINO's check boilerplate; None
    where the frontend simply has no conversion rule."""
    if "with a message:" not in error:
        return None
    return openvino_message(error.split("with a message:", 1)[1].split("\n\n", 1)[0])


def openvino_message(error: str) -> str | None:
    """The first line of an OpenVINO error that is not where it was raised or which check failed."""
    for line in error.splitlines():
        line = line.strip()
        if line and not line.startswith(("Check '", "While validating", "Exception from", "[ GENERAL_ERROR ]")):
            return line
    return None


def _defect_support(defect: KnownDefect | None) -> Support | None:
    if defect is None:
        return None
    reason = (
        f"OpenVINO {ov.get_version().split('-')[0]} computes {defect.op} wrong here (known defect {defect.id}, "
        f"seen on {', '.join(defect.seen_on)}): {defect.symptom}"
    )
    return Support(False, reason, SupportSource.KNOWN_DEFECT)


def _untransferable_types(index: GraphIndex) -> list[Support | None]:
    result: list[Support | None] = []
    for node_id, node in enumerate(index.nodes):
        names = [*index.inputs_of[node_id], *node.output]
        types = [index.value_types[n].tensor_type.elem_type for n in names if n in index.value_types]
        bad = sorted({onnx.TensorProto.DataType.Name(t) for t in types if t in _UNTRANSFERABLE})
        reason = f"{_op_name(node)} uses {', '.join(bad)}, which ovaot cannot exchange with OpenVINO as numpy"
        result.append(Support(False, reason, SupportSource.CONVERSION) if bad else None)
    return result


def _op_name(node: onnx.NodeProto) -> str:
    return f"{node.domain + '.' if node.domain else ''}{node.op_type}"


# The spec's "ONNX Layers supported" table has CPU, GPU and VPU columns; MYRIAD and HDDL are VPUs, and
# the NPU, their successor, is judged by their column too. It has no FPGA column, so no op counts as
# supported on an FPGA (the spec runs FPGA only in HETERO, with the CPU taking what the FPGA lacks).
TABLE_COLUMNS = {"CPU": "CPU", "GPU": "GPU", "MYRIAD": "VPU", "HDDL": "VPU", "NPU": "VPU"}


@cache
def spec_table() -> dict[str, dict[str, bool]]:
    """op_type -> {column: supported}, from the spec's table shipped as package data."""
    text = resources.files("ovaot.data").joinpath("ep_supported_ops.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {row["op_type"]: {col: row[col] == "Yes" for col in ("CPU", "GPU", "VPU")} for row in rows}


class TableCapability:
    """Support decided by the spec's table, for devices whose plugin this build host does not have."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.column = TABLE_COLUMNS.get(plugin_of(device))

    def support(
        self, model: ModelProto, index: GraphIndex, converted: tuple[ov.Model, bool] | None = None
    ) -> list[Support]:
        return [self._node(node.domain, node.op_type) for node in index.nodes]

    def _node(self, domain: str, op_type: str) -> Support:
        op = f"{domain + '.' if domain else ''}{op_type}"
        if self.column is None:
            return Support(False, f"the spec's table has no column for {self.device}", SupportSource.TABLE)
        listed = spec_table().get(op_type) if domain in ("", "ai.onnx") else None
        if listed is None:
            return Support(False, f"{op} is not in the spec's table of supported layers", SupportSource.TABLE)
        verdict = "Yes" if listed[self.column] else "No"
        return Support(
            listed[self.column], f"spec table: {op} is {verdict} for {self.column} ({self.device})", SupportSource.TABLE
        )


def device_capability(core: ov.Core, device: str, config: dict[str, str]) -> CapabilityQuery | TableCapability:
    """A live query where the device's plugin is on this host, the spec's table where it is not.

    AUTO cannot be queried; it is asked as the device it would pick here (GPU, then NPU, then CPU).
    """
    if device == "AUTO":
        available = core.available_devices
        picked = next((d for p in ("GPU", "NPU", "CPU") for d in available if plugin_of(d) == p), available[0])
        return CapabilityQuery(core, picked, {})
    if device_present(core, device):
        return CapabilityQuery(core, device, config)
    return TableCapability(device)


def device_present(core: ov.Core, device: str) -> bool:
    available = _available_devices(core)
    return device in available or plugin_of(device) in available or device == "AUTO"


_HOST_DEVICES: list[str] = []


def _available_devices(core: ov.Core) -> list[str]:
    """core.available_devices asks every plugin each time (a few ms); the host's devices do not change
    while the compiler runs, so one answer per process is enough."""
    if not _HOST_DEVICES:
        _HOST_DEVICES.extend(core.available_devices)
    return _HOST_DEVICES


UserCapabilities = Mapping[str, Mapping[str, bool]]


def read_capabilities(path: str | os.PathLike) -> dict[str, dict[str, bool]]:
    """A --capabilities file: JSON {"DEVICE": {"OpType": true|false, ...}, ...}."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--capabilities {path}: cannot read it as JSON ({exc})") from None
    example = '{"MYRIAD": {"Sign": true, "Tan": false}}'
    if not isinstance(data, dict) or not all(
        isinstance(ops, dict) and all(isinstance(v, bool) for v in ops.values()) for ops in data.values()
    ):
        raise UsageError(f"--capabilities {path}: expected {{device: {{op_type: true|false}}}}, e.g. {example}")
    return data


def apply_overrides(
    supports: list[Support], index: GraphIndex, device: str, user: UserCapabilities, forced: Iterable[str]
) -> list[Support]:
    """User answers from --capabilities beat OpenVINO's and the table's; --force-fallback beats everything."""
    overrides = {**user.get(plugin_of(device), {}), **user.get(device, {})}
    forced = set(forced)
    result = []
    for node, support in zip(index.nodes, supports):
        if node.op_type in forced:
            support = Support(False, f"{node.op_type} sent to the fallback by --force-fallback", SupportSource.FORCED)
        elif node.op_type in overrides:
            verdict = "supports" if overrides[node.op_type] else "does not support"
            support = Support(overrides[node.op_type], f"user: {device} {verdict} {node.op_type}", SupportSource.USER)
        result.append(support)
    return result
