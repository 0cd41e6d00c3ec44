"""User kernels for custom operators: numpy functions (or onnx.reference OpRun classes) by domain and op type.

A package records a custom op by domain and name only; the kernel must be registered in the process that
compiles the model and in the one that loads it. Nothing from a package is ever executed as code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

_REGISTRY: dict[tuple[str, str], type] = {}

# Domains onnx.reference implements itself.
STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview"}


def register_op(domain: str, op_type: str, kernel: Callable[..., Any] | type) -> None:
    """Register a kernel: an onnx.reference OpRun subclass, or fn(*inputs, **attributes) -> output(s)."""
    from onnx.reference.op_run import OpRun

    if isinstance(kernel, type) and issubclass(kernel, OpRun):
        op_class = type(op_type, (kernel,), {"op_domain": domain})
    elif callable(kernel):

        def _run(self: OpRun, *inputs: Any, **attributes: Any) -> tuple[Any, ...]:
            result = kernel(*inputs, **{k: v for k, v in attributes.items() if v is not None})
            return tuple(result) if isinstance(result, (tuple, list)) else (result,)

        op_class = type(op_type, (OpRun,), {"op_domain": domain, "_run": _run})
    else:
        raise TypeError(f"kernel for {domain}.{op_type} must be callable or an OpRun subclass")
    _REGISTRY[(domain, op_type)] = op_class


def registered_ops(domains: set[str] | None = None) -> list[type]:
    """The registered OpRun classes, for ReferenceEvaluator(new_ops=...)."""
    return [cls for (domain, _), cls in _REGISTRY.items() if domains is None or domain in domains]


def unregistered(nodes: Iterable[Any]) -> list[str]:
    """`domain.op_type` of the nodes (anything with .domain and .op_type) that only a missing kernel could run."""
    return sorted(
        {
            f"{n.domain}.{n.op_type}"
            for n in nodes
            if n.domain not in STANDARD_DOMAINS and (n.domain, n.op_type) not in _REGISTRY
        }
    )
