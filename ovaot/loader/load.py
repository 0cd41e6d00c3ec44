"""Open a package with the spec's options, honouring OV_USE_COMPILED_NETWORK / OV_BLOB_PATH."""

from __future__ import annotations

import os
import warnings
from typing import Any

from ovaot.errors import UsageError
from ovaot.loader.log import LoaderLog
from ovaot.loader.session import Session
from ovaot.options import ProviderOptions

log = LoaderLog(__name__)


def blob_path_from_environment() -> str | None:
    """The package OV_BLOB_PATH names when OV_USE_COMPILED_NETWORK is set, else None."""
    blob_path = os.environ.get("OV_BLOB_PATH")
    if os.environ.get("OV_USE_COMPILED_NETWORK", "").strip().lower() in ("1", "true") and blob_path:
        return blob_path
    return None


PACKAGE_MAGIC = b"PK\x03\x04"  # a package is a zip archive
ACCEPTED = "a path to a .ovpkg package or an .onnx model, an onnx.ModelProto, or the bytes of a package or a model"

# EP options that decide how a model is compiled: a package is compiled already, so loading one ignores them.
COMPILE_TIME_OPTIONS = ("use_compiled_network", "blob_dump_path", "enable_vpu_fast_compile")
RUN_TIME_OPTIONS = ("device_id", "num_of_threads", "num_streams", "performance_hint")  # what a Session takes

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


def _package_options(options: dict[str, Any]) -> ProviderOptions:
    """The EP options for loading a package; those that only apply to compiling an ONNX model (device_type and
    COMPILE_TIME_OPTIONS) are checked, then ignored with a warning."""
    given = dict(options)
    device_type = given.pop("device_type", None)
    provider = ProviderOptions.parse(given, parameters=["strict", "trusted_keys"])
    set_here = provider.to_manifest()  # the options that differ from their defaults
    ignored = sorted(["device_type"] * (device_type is not None) + [k for k in COMPILE_TIME_OPTIONS if k in set_here])
    if ignored:
        warnings.warn(
            f"ovaot.load: {', '.join(ignored)} ignored: a package is compiled already (they apply to an ONNX model)",
            UserWarning,
            stacklevel=4,  # the caller of ovaot.load or ovaot.loader.load, both through open_package
        )
    return ProviderOptions(**{k: v for k, v in set_here.items() if k not in COMPILE_TIME_OPTIONS})


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
    return open_package(source, strict, trusted_keys, options)


def open_package(source: Source, strict: bool, trusted_keys: Any, options: dict[str, Any]) -> Session:
    provider = _package_options(options)
    blob_path = blob_path_from_environment()
    if blob_path is not None:
        log.info("OV_USE_COMPILED_NETWORK=1: loading %s from OV_BLOB_PATH", blob_path)
        source = blob_path
    return open_session(source, provider, strict, trusted_keys)
