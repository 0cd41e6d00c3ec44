"""Python modules onnx.reference needs for some ops, and the ovaot extra that installs each.

onnx.reference imports them only when such a node runs, so a package holding one would load and then fail on
its first run with an ImportError from deep inside onnx.reference. The loader checks them up front instead and
names the extra; the compiler only warns, since a package may be built on a host without them and run elsewhere.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ovaot.errors import PackageError


@dataclass(frozen=True)
class Requirement:
    """A module an onnx.reference kernel imports, and what provides it."""

    module: str  # what the kernel imports, e.g. "PIL"
    package: str  # the distribution that provides it, as people know it
    extra: str  # the ovaot extra that declares it (pyproject's [project.optional-dependencies])


# By op type, in the default ONNX domain: onnx.reference's kernels that import something onnx does not require.
REQUIREMENTS: dict[str, Requirement] = {
    "ImageDecoder": Requirement(module="PIL", package="Pillow", extra="image"),
}

_DEFAULT_DOMAINS = ("", "ai.onnx")


def unmet_requirements(nodes: Iterable[Any]) -> str:
    """'' when this process can import what the nodes' kernels need, else what is missing and how to install it.

    `nodes` are anything with .domain and .op_type (manifest NodePlacements, ONNX NodeProtos); the subgraphs of
    NodeProtos (If branches, Loop and Scan bodies) are searched too, as onnx.reference runs them.
    """
    needs: dict[Requirement, set[str]] = {}
    for op_type in _op_types(nodes):
        requirement = REQUIREMENTS.get(op_type)
        if requirement is not None and not _importable(requirement.module):
            needs.setdefault(requirement, set()).add(op_type)
    return "; ".join(
        f"runs {', '.join(sorted(ops))} in the numpy fallback, which needs {r.package}: pip install 'ovaot[{r.extra}]'"
        for r, ops in needs.items()
    )


def require(nodes: Iterable[Any], partition: int) -> None:
    """Raise PackageError, naming the extra to install, when fallback `partition` could not run its nodes here."""
    unmet = unmet_requirements(nodes)
    if unmet:
        raise PackageError(f"partition {partition} {unmet}")


def _op_types(nodes: Iterable[Any]) -> Iterable[str]:
    """The op types of the default-domain nodes, with those of any subgraph they hold (NodeProtos' only: If
    branches, Loop and Scan bodies)."""
    for node in nodes:
        if node.domain in _DEFAULT_DOMAINS:
            yield node.op_type
        for attribute in getattr(node, "attribute", ()):
            for graph in [attribute.g] if attribute.HasField("g") else attribute.graphs:
                yield from _op_types(graph.node)


def _importable(module: str) -> bool:
    """Whether `module` can be imported, found without importing it (loading a package is start-up sensitive).

    A None in sys.modules blocks the import, and find_spec says so (returns None) as well.
    """
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None
