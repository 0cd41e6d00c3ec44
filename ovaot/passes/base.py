"""The pass contract: a named rewrite with an opt level and prerequisites that says whether it changed the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from onnx import ModelProto


@dataclass(frozen=True)
class PassResult:
    model: ModelProto
    modified: bool


class Pass(Protocol):
    name: str
    opt_level: int
    requires: tuple[str, ...]
    description: str

    def __call__(self, model: ModelProto) -> PassResult: ...
