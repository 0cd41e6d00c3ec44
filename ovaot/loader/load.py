"""Open a package with the spec's options, honouring OV_USE_COMPILED_NETWORK / OV_BLOB_PATH."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

from ovaot.errors import UsageError
from ovaot.loader.session import Session
from ovaot.options import ProviderOptions

log = logging.getLogger(__name__)


def blob_path_from_environment() -> str | None:
    """The package OV_BLOB_PATH names when OV_USE_COMPILED_NETWORK is set, else None."""
    blob_path = os.environ.get("OV_BLOB_PATH")
    if os.environ.get("OV_USE_COMPILED_NETWORK", "").strip().lower() in ("1", "true") and blob_path:
        return blob_path
    return None


PACKAGE_MAGIC = b"PK\x03\x04"  # a package is a zip archive
ACCEPTED = "a path to a .ovpkg package or an .onnx model, an onnx.ModelProto, or the bytes of a package or a model"

# EP options that decide how a model is compiled: a package is compiled already, so loading one ignores them.
COMPILE_TIME_OPTIONS = ("device_type", "use_compiled_network", "blob_dump_path", "enable_vpu_fast_compile")

Source = str | os.PathLike | bytes | bytearray | memoryview


def is_onnx_input(model: Any) -> bool:
    """An ONNX model (a ModelProto, a path ending in .onnx, or bytes that are not a package) rather than a
    package; anything else ovaot.load cannot take is a UsageError saying what it takes."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model[:4]) != PACKAGE_MAGIC
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model).endswith(".onnx")
    if type(model).__name__ == "ModelProto":  # onnx is not imported on the loader's path
        return True
    raise UsageError(f"ovaot.load takes {ACCEPTED}; got {type(model).__name__}")


def ignore_compile_time_options(options: dict[str, Any]) -> dict[str, Any]:
    """`options` without the compile-time ones, with a warning naming those given: they cannot apply."""
    ignored = sorted(key for key in COMPILE_TIME_OPTIONS if options.get(key) not in (None, False))
    if ignored:
        warnings.warn(
            f"ovaot.load: {', '.join(ignored)} ignored: a package is compiled already (they apply to an ONNX model)",
            UserWarning,
            stacklevel=4,  # the caller of ovaot.load
        )
    return {key: value for key, value in options.items() if key not in COMPILE_TIME_OPTIONS}


def open_session(source: Source, provider: ProviderOptions, strict: bool, trusted_keys: Any) -> Session:
    return Session(
        source,
        strict=strict,
        device_id=provider.device_id,
        num_of_threads=provider.num_of_threads,
        num_streams=provider.num_streams,
        performance_hint=provider.performance_hint,
        trusted_keys=trusted_keys,
    )


def load(source: Source, *, strict: bool = False, trusted_keys: list[Any] | None = None, **options: Any) -> Session:
    """Open a .ovpkg (a path, or its bytes) and prepare it to run on this host (the runtime side only).

    Options are the OpenVINO Execution Provider's keys that apply at run time (device_id, num_of_threads,
    num_streams, performance_hint); compile-time ones are ignored with a warning. strict=True refuses any
    device substitution; trusted_keys (Ed25519 public keys, PEM bytes or paths) require a manifest signed by
    one of them. With OV_USE_COMPILED_NETWORK=1 and OV_BLOB_PATH=<package> in the environment, that package is
    loaded instead.
    """
    provider = ProviderOptions.parse(ignore_compile_time_options(options), parameters=("strict", "trusted_keys"))
    blob_path = blob_path_from_environment()
    if blob_path is not None:
        log.info("OV_USE_COMPILED_NETWORK=1: loading %s from OV_BLOB_PATH", blob_path)
        source = blob_path
    return open_session(source, provider, strict, trusted_keys)
