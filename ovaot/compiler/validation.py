"""--validate: run each OpenVINO partition on sample inputs and compare it with onnx.reference.

OpenVINO converts some nodes and then computes them wrongly; validation finds them at build time so that
they run in the fallback instead. Reference values for every tensor come from one onnx.reference run of the
whole model; a failing partition is narrowed to the nodes that fail alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import openvino as ov
from onnx import ModelProto

from ovaot.compiler.graph import GraphIndex
from ovaot.engines.ports import port_binding
from ovaot.errors import DeviceError, first_line
from ovaot.tolerance import difference

log = logging.getLogger(__name__)


def reference_values(model: ModelProto, feed: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every tensor's value on `feed` by onnx.reference, or None when the reference cannot run the model."""
    from ovaot.custom_ops import registered_ops
    from ovaot.engines.reference import reference_evaluator  # onnx.reference only when validating

    try:
        with np.errstate(all="ignore"):  # edge sets hold inf and nan on purpose: numpy's warnings are expected
            values = reference_evaluator(model, registered_ops()).run(None, dict(feed), intermediate=True)
    except Exception as exc:
        log.debug("onnx.reference cannot run the model on a sample set (%s)", exc)
        return None
    return values


def shipped(core: ov.Core, blob: bytes, device: str, config: dict) -> ov.CompiledModel:
    """A partition as a package runs it: its exported blob, imported (export can change what it computes)."""
    return core.import_model(blob, device, config)


def mismatch(
    compiled: ov.CompiledModel,
    consumes: list[str],
    produces: list[str],
    values: Mapping[str, Any],
    ports: list[str] = (),
    quantized: bool = False,
) -> str:
    """'' when the compiled partition reproduces the reference values of `produces`, else what differs
    (`quantized`: within the INT8 tolerance)."""
    if any(not isinstance(values.get(n), np.ndarray) for n in [*consumes, *produces]):
        return ""  # non-tensor or unknown values: nothing to compare
    try:
        feed = [values[name] for name in port_binding([p.get_names() for p in compiled.inputs], consumes, ports)]
        results = compiled.create_infer_request().infer(feed)
    except (RuntimeError, DeviceError) as exc:
        return f"OpenVINO fails to run it: {first_line(exc)}"
    by_name = {name: results[port] for port in compiled.outputs for name in port.get_names()}
    for name in produces:
        got = by_name.get(name)
        if got is None:
            return f"{name}: missing from OpenVINO's outputs"
        how = difference(got, values[name], "onnx.reference", quantized)
        if how:
            return f"{name}: {how}"
    return ""


def failing_nodes(
    core: ov.Core, model: ModelProto, index: GraphIndex, node_ids: list[int], values: Mapping[str, Any], config: dict
) -> dict[int, str]:
    """The nodes of a failing partition that fail when run alone, with why."""
    failures = {}
    for node_id in node_ids:
        single, consumes, produces = index.extract(model, [node_id], "validate_node")
        try:
            compiled = core.compile_model(core.read_model(single.SerializeToString()), "CPU", config)
            # a node OpenVINO turns into a pass-through loses its input's name: its inputs are by position
            ports = port_binding([p.get_names() for p in compiled.inputs], consumes, consumes)
            compiled = shipped(core, exported_blob(compiled), "CPU", config)
        except (RuntimeError, DeviceError) as exc:
            failures[node_id] = f"OpenVINO cannot compile it alone ({first_line(exc)})"
            continue
        reason = mismatch(compiled, consumes, produces, values, ports)
        if reason:
            failures[node_id] = reason
    return failures


def exported_blob(compiled: ov.CompiledModel) -> bytes:
    blob = compiled.export_model()
    return blob.getvalue() if hasattr(blob, "getvalue") else bytes(blob)
