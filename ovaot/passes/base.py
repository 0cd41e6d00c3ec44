"""The pass contract and a runner that names the failing pass and the passes before it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from onnx import ModelProto

from ovaot.errors import CompileError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassResult:
    model: ModelProto
    modified: bool


class Pass(Protocol):
    name: str
    opt_level: int
    requires: tuple[str, ...]

    def __call__(self, model: ModelProto) -> PassResult: ...


def run_passes(model: ModelProto, passes: Sequence[Pass]) -> tuple[ModelProto, list[str]]:
    """Run passes in order; return the model and the names of the passes that changed it."""
    ran: list[str] = []
    changed: list[str] = []
    for p in passes:
        try:
            result = p(model)
        except Exception as exc:
            before = ", ".join(ran) or "none"
            raise CompileError(f"pass {p.name} failed: {exc} (passes run before it: {before})") from exc
        ran.append(p.name)
        if result.modified:
            changed.append(p.name)
            log.debug("pass %s changed the model", p.name)
        model = result.model
    return model, changed
