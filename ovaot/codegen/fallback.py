"""A fallback partition: an ONNX subgraph that the loader runs with onnx.reference."""

from __future__ import annotations

import logging

from onnx import ModelProto

from ovaot.custom_ops import build_failure, registered_ops, unregistered
from ovaot.engines.reference_requirements import unmet_requirements
from ovaot.errors import CompileError

log = logging.getLogger(__name__)


def fallback_artifact(subgraph: ModelProto) -> bytes:
    """Serialise the subgraph after making sure onnx.reference can build an evaluator for it."""
    from ovaot.engines.reference import reference_evaluator  # onnx.reference only for fallback partitions

    missing = unregistered(subgraph.graph.node)
    if missing:
        raise CompileError(
            f"no engine can run {', '.join(missing)}: OpenVINO does not take it and no kernel is registered "
            "(ovaot.register_op(domain, op_type, fn))"
        )
    try:
        reference_evaluator(subgraph, registered_ops())
    except Exception as exc:
        ops = sorted({f"{n.domain + '.' if n.domain else ''}{n.op_type}" for n in subgraph.graph.node})
        raise CompileError(
            f"no engine can run partition {subgraph.graph.name} ({', '.join(ops)}): OpenVINO does not "
            f"take it and onnx.reference cannot build it ({build_failure(exc)})"
        ) from exc  # --debug shows the cause whole
    unmet = unmet_requirements(subgraph.graph.node)
    if unmet:  # only a warning: the package may be built here and run on another host, where the loader checks
        log.warning("%s %s (where the package is loaded; compiling does not need it)", subgraph.graph.name, unmet)
    return subgraph.SerializeToString(deterministic=True)
