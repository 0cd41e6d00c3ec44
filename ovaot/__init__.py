"""ovaot: compile ONNX models ahead of time into OpenVINO packages, and load and run them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ovaot.custom_ops import register_op
from ovaot.errors import (
    CompileError,
    DeviceError,
    InputError,
    ModelError,
    OvaotError,
    PackageError,
    UsageError,
)
from ovaot.loader import Session, load
from ovaot.version import __version__

if TYPE_CHECKING:
    from ovaot.compiler import CompileResult, compile

__all__ = [
    "CompileError",
    "CompileResult",
    "DeviceError",
    "InputError",
    "ModelError",
    "OvaotError",
    "PackageError",
    "Session",
    "UsageError",
    "__version__",
    "compile",
    "load",
    "register_op",
]


def __getattr__(name: str) -> Any:
    # The compiler side is imported on first use, so a deployment that only loads never pays for it.
    if name in ("compile", "CompileResult"):
        from ovaot import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'ovaot' has no attribute {name!r}")
