"""A failed blob check, narrowed: which nodes OpenVINO computes differently once exported, and what to do.

The export worker found that a partition's blob, imported back, differs from the model it was compiled from
(ovaot/engines/blob_check.py). Each node of the partition is then compiled, exported and imported alone on a
seeded sample. For the nodes whose blob differs, onnx.reference decides: where the compiled model is right
(or the reference cannot tell), the blob is not shipped and the loader compiles the IR, which is what OpenVINO
computes right; where the compiled model is wrong too, the nodes go to the fallback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import openvino as ov
from onnx import ModelProto

from ovaot.compiler.graph import GraphIndex
from ovaot.compiler.validation import exported_blob, reference_values, shipped
from ovaot.engines.blob_check import seeded_sets
from ovaot.errors import first_line
from ovaot.tolerance import difference

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Divergence:
    """A node whose imported blob differs from its compiled model: how, and whether the compiled model agrees
    with onnx.reference (None: the reference cannot run it)."""

    how: str
    compiled_is_right: bool | None


def blob_samples(ov_model: ov.Model) -> tuple[tuple[np.ndarray, ...], ...] | None:
    """The blob check's seeded sample sets for `ov_model`'s parameters (blob_check.seeded_sets); None for a
    parameter of dynamic rank or of a type numpy does not hold."""
    signature = []
    for parameter in ov_model.get_parameters():
        shape = parameter.get_partial_shape()
        if shape.rank.is_dynamic:
            return None
        try:
            dtype = np.dtype(parameter.get_element_type().to_dtype())
        except (RuntimeError, TypeError, KeyError):
            return None
        dims = [d.get_length() if d.is_static else (d.get_min_length(), d.get_max_length()) for d in shape]
        signature.append((dims, dtype))
    return seeded_sets(signature)


def diverging_nodes(
    core: ov.Core, model: ModelProto, index: GraphIndex, node_ids: list[int], device: str, config: dict
) -> dict[int, Divergence]:
    """The nodes of `node_ids` whose blob, exported alone and imported back, differs from their compiled model."""
    found = {}
    for node_id in node_ids:
        single, consumes, _ = index.extract(model, [node_id], "blob_check_node")
        divergence = _diverges(core, single, consumes, device, config)
        if divergence is not None:
            log.info("node %s: its blob differs after import (%s)", index.nodes[node_id].name, divergence.how)
            found[node_id] = divergence
    return found


def _diverges(core: ov.Core, single: ModelProto, consumes: list[str], device: str, config: dict) -> Divergence | None:
    try:
        ov_model = core.read_model(single.SerializeToString())
        compiled = core.compile_model(ov_model, device, config)
        imported = shipped(core, exported_blob(compiled), device, config)
    except RuntimeError:
        return None  # it does not build alone: nothing to learn from it
    for sample in blob_samples(ov_model) or ():
        try:
            want = _run(compiled, sample)
        except RuntimeError:
            continue  # the sample does not fit the node
        try:
            got = _run(imported, sample)
        except RuntimeError as exc:
            how = f"the imported blob fails: {first_line(exc)}"
            return Divergence(how, _agrees(single, consumes, ov_model, sample, want))
        for mine, theirs in zip(got, want, strict=True):
            how = difference(mine, theirs, "the compiled model")
            if how:
                return Divergence(f"the imported blob {how}", _agrees(single, consumes, ov_model, sample, want))
        return None  # compared on the first sample that runs, as the blob check does
    return None


def _run(compiled: ov.CompiledModel, sample: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    results = compiled.create_infer_request().infer(list(sample))
    return [np.asarray(results[port]) for port in compiled.outputs]


def _agrees(
    single: ModelProto, consumes: list[str], ov_model: ov.Model, sample: tuple, compiled: list[np.ndarray]
) -> bool | None:
    """Whether the compiled model's outputs are onnx.reference's on the same sample; None when unknown."""
    names = [next((n for n in consumes if n in p.output(0).get_names()), None) for p in ov_model.get_parameters()]
    if None in names:
        return None
    values = reference_values(single, dict(zip(names, sample)))
    if values is None:
        return None
    outputs = [o.name for o in single.graph.output]
    expected = [values.get(name) for name in outputs]
    if len(expected) != len(compiled) or any(not isinstance(e, np.ndarray) for e in expected):
        return None
    return all(not difference(got, want, "onnx.reference") for got, want in zip(compiled, expected))
