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
from ovaot.loader import Session
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


def load(model: Any, **options: Any) -> Session:
    """Open a .ovpkg (runtime side only), or compile an ONNX model first (see ovaot.jit.load).

    Options: device_type, strict, trusted_keys and the OpenVINO Execution Provider's keys (device_id,
    num_of_threads, num_streams, performance_hint, enable_vpu_fast_compile, use_compiled_network, blob_dump_path).
    """
    from ovaot.loader.load import blob_path_from_environment, is_onnx_input
    from ovaot.loader.load import load as load_package

    if blob_path_from_environment() is None and is_onnx_input(model):
        from ovaot.jit import load as load_onnx  # only ONNX input pays for the compiler

        return load_onnx(model, **options)
    options.pop("device_type", None)  # a package already says what it was built for
    return load_package(model, **options)


def __getattr__(name: str) -> Any:
    # The compiler side is imported on first use, so a deployment that only loads never pays for it.
    if name in ("compile", "CompileResult"):
        from ovaot import compiler

        return getattr(compiler, name)
    raise AttributeError(f"module 'ovaot' has no attribute {name!r}")
