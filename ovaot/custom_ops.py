"""User kernels for custom operators: numpy functions (or onnx.reference OpRun classes) by domain and op type.

A package records a custom op by domain and name only; the kernel must be registered in the process that
compiles the model and in the one that loads it. Nothing from a package is ever executed as code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ovaot.errors import OvaotError, UsageError

_REGISTRY: dict[tuple[str, str], type] = {}

# Domains onnx.reference implements itself.
STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training", "ai.onnx.preview"}


def register_op(domain: str, op_type: str, kernel: Callable[..., Any] | type) -> None:
    """Register a kernel: an onnx.reference OpRun subclass, or fn(*inputs, **attributes) -> output(s).

    A function returns the value of a node's one output as it is (an array, or a list for a sequence, such as
    a list of dicts), or a tuple with one value per output of the node.
    """
    from onnx.reference.op_run import OpRun

    if isinstance(kernel, type) and issubclass(kernel, OpRun):
        op_class = type(op_type, (kernel,), {"op_domain": domain})
    elif callable(kernel):

        def _run(self: OpRun, *inputs: Any, **attributes: Any) -> tuple[Any, ...]:
            result = kernel(*inputs, **{k: v for k, v in attributes.items() if v is not None})
            return _as_outputs(result, _named_outputs(self.onnx_node), f"{domain}.{op_type}")

        op_class = type(op_type, (OpRun,), {"op_domain": domain, "_run": _run})
    else:
        raise UsageError(f"the kernel for {domain}.{op_type} must be a function or an OpRun subclass, not {kernel!r}")
    _REGISTRY[(domain, op_type)] = op_class


def _named_outputs(node: Any) -> int:
    """How many outputs a kernel returns for `node`: up to its last named one (trailing optional outputs that
    the node leaves out, as "", are not returned)."""
    names = list(node.output)
    while names and not names[-1]:
        names.pop()
    return len(names)


def _as_outputs(result: Any, count: int, op: str) -> tuple[Any, ...]:
    """A kernel's result as the node's outputs: a tuple of `count` values, or the one output's value."""
    if isinstance(result, tuple) and len(result) == count:
        return result
    if count == 1 and not isinstance(result, tuple):
        return (result,)
    got = f"a tuple of {len(result)} values" if isinstance(result, tuple) else f"one {type(result).__name__}"
    raise OvaotError(
        f"the kernel registered for {op} returned {got}, but the node has {count} output{'s' * (count != 1)}: "
        "return a tuple with one value per output (or, for a node with one output, the value itself)"
    )


# How onnx.reference says it has no kernel for an op (five wordings across its versions and code paths).
_NO_KERNEL = (
    r"Not? (?:registered )?(?:implementation|schema)(?: was found)? for (?:operator|node type) '([^']*)',? "
    r"(?:and |from )?domain '([^']*)'"
)


def build_failure(exc: BaseException) -> str:
    """Why onnx.reference could not build an evaluator, in one line: for an op it has no kernel for (its message
    then lists every op it has), the register_op call that would supply one."""
    import re

    from ovaot.errors import first_line

    missing = re.search(_NO_KERNEL, str(exc))
    if missing is None:
        return f"{type(exc).__name__}: {first_line(exc)}"
    op_type, domain = missing.groups()
    return f"onnx.reference has no kernel for {op_type}: supply one with ovaot.register_op({domain!r}, {op_type!r}, fn)"


def registered_ops(domains: set[str] | None = None) -> list[type]:
    """The registered OpRun classes, for ReferenceEvaluator(new_ops=...)."""
    return [cls for (domain, _), cls in _REGISTRY.items() if domains is None or domain in domains]


# Ops outside the ONNX domains whose fallback kernels ship with ovaot (ovaot/engines/reference.py)
BUILT_IN_KERNELS = frozenset({("com.microsoft", "Tokenizer")})


def unregistered(nodes: Iterable[Any]) -> list[str]:
    """`domain.op_type` of the nodes (anything with .domain and .op_type) that only a missing kernel could run."""
    return sorted(
        {
            f"{n.domain}.{n.op_type}"
            for n in nodes
            if n.domain not in STANDARD_DOMAINS and (n.domain, n.op_type) not in {*_REGISTRY, *BUILT_IN_KERNELS}
        }
    )
