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

log = logging.getLogger(__name__)

# Elementwise rtol/atol, plus an absolute slack relative to the tensor's largest finite magnitude: a layer that
# sums thousands of products in another order can differ near zero by far more than 1e-5 (with the
# elementwise test alone validation moved 24 of alexnet's nodes), while a wrong kernel is off by the values' size.
RTOL, ATOL, SCALE_TOL = 1e-3, 1e-5, 1e-4


def reference_values(model: ModelProto, feed: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every tensor's value on `feed` by onnx.reference, or None when the reference cannot run the model."""
    from ovaot.engines.reference import reference_evaluator  # onnx.reference only when validating

    try:
        with np.errstate(all="ignore"):  # edge sets hold inf and nan on purpose: numpy's warnings are expected
            values = reference_evaluator(model).run(None, dict(feed), intermediate=True)
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
) -> str:
    """'' when the compiled partition reproduces the reference values of `produces`, else what differs."""
    if any(not isinstance(values.get(n), np.ndarray) for n in [*consumes, *produces]):
        return ""  # non-tensor or unknown values: nothing to compare
    try:
        feed = [values[name] for name in port_binding([p.get_names() for p in compiled.inputs], consumes, ports)]
        results = compiled.create_infer_request().infer(feed)
    except (RuntimeError, DeviceError) as exc:
        return f"OpenVINO fails to run it: {first_line(exc)}"
    by_name = {name: results[port] for port in compiled.outputs for name in port.get_names()}
    for name in produces:
        want, got = values[name], by_name.get(name)
        if got is None or got.shape != want.shape:
            return f"{name}: shape {None if got is None else list(got.shape)}, reference {list(want.shape)}"
        if want.dtype.kind in "fc" and not np.allclose(got, want, rtol=RTOL, atol=_atol(want), equal_nan=True):
            return f"{name}: differs from onnx.reference {_worst(got, want)}"
        if want.dtype.kind not in "fc" and not np.array_equal(got.astype(want.dtype), want):
            return f"{name}: differs from onnx.reference"
    return ""


def _worst(got: np.ndarray, want: np.ndarray) -> str:
    """How far `got` is from `want` at most, where both are numbers (inf - inf and nan are not)."""
    with np.errstate(all="ignore"):
        difference = np.abs(got.astype(np.float64) - want)
    known = difference[~np.isnan(difference)]
    return f"by up to {float(known.max()):.3g}" if known.size else "(nan where the reference has a number)"


def _atol(want: np.ndarray) -> float:
    finite = np.abs(want[np.isfinite(want)]) if want.size else want
    return ATOL + SCALE_TOL * float(finite.max(initial=0.0))


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
            compiled = shipped(core, _exported(compiled), "CPU", config)
        except (RuntimeError, DeviceError) as exc:
            failures[node_id] = f"OpenVINO cannot compile it alone ({first_line(exc)})"
            continue
        reason = mismatch(compiled, consumes, produces, values, ports)
        if reason:
            failures[node_id] = reason
    return failures


def _exported(compiled: ov.CompiledModel) -> bytes:
    blob = compiled.export_model()
    return blob.getvalue() if hasattr(blob, "getvalue") else bytes(blob)
