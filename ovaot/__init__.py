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
    VerificationError,
)
from ovaot.version import __version__

if TYPE_CHECKING:
    from ovaot.compiler import CompileOptions, CompileResult, compile
    from ovaot.integrations.fleet import CompileJob, compile_many
    from ovaot.loader import Session

__all__ = [
    "CompileError",
    "CompileJob",
    "CompileOptions",
    "CompileResult",
    "DeviceError",
    "InputError",
    "ModelError",
    "OvaotError",
    "PackageError",
    "Session",
    "UsageError",
    "VerificationError",
    "__version__",
    "compile",
    "compile_many",
    "load",
    "register_op",
]


def load(model: Any, *, strict: bool = False, trusted_keys: list[Any] | None = None, **options: Any) -> Session:
    """Open a .ovpkg (a path or its bytes; runtime side only), or compile an ONNX model first (a path to an
    .onnx file, an onnx.ModelProto or its bytes; see ovaot.integrations.jit.compile_and_load).

    strict=True refuses any device substitution; trusted_keys (Ed25519 public keys) require a signed package.
    Options are the OpenVINO Execution Provider's keys (device_id, num_of_threads, num_streams,
    performance_hint), and for an ONNX model device_type, enable_vpu_fast_compile, use_compiled_network and
    blob_dump_path (a package, compiled already, ignores those with a warning).
    """
    from ovaot.loader.load import blob_path_from_environment, is_onnx_input, open_package

    if blob_path_from_environment() is None and is_onnx_input(model):
        from ovaot.integrations.jit import compile_and_load  # only ONNX input pays for the compiler

        return compile_and_load(model, strict=strict, trusted_keys=trusted_keys, **options)
    return open_package(model, strict, trusted_keys, options)


def __getattr__(name: str) -> Any:
    # Each side is imported on first use: a deployment that only loads never pays for the compiler, and the
    # compiler's command line starts its export worker before it imports numpy and OpenVINO.
    if name == "Session":
        from ovaot.loader import Session

        return Session
    if name in ("compile", "CompileOptions", "CompileResult"):
        from ovaot import compiler

        return getattr(compiler, name)
    if name in ("compile_many", "CompileJob"):
        from ovaot.integrations import fleet

        return getattr(fleet, name)
    raise AttributeError(f"module 'ovaot' has no attribute {name!r}")
