"""Open a package with the spec's options, honouring OV_USE_COMPILED_NETWORK / OV_BLOB_PATH."""

from __future__ import annotations

import logging
import os
from typing import Any

from ovaot.loader.session import Session
from ovaot.options import ProviderOptions

log = logging.getLogger(__name__)


def blob_path_from_environment() -> str | None:
    """The package OV_BLOB_PATH names when OV_USE_COMPILED_NETWORK is set, else None."""
    blob_path = os.environ.get("OV_BLOB_PATH")
    if os.environ.get("OV_USE_COMPILED_NETWORK", "").strip().lower() in ("1", "true") and blob_path:
        return blob_path
    return None


def is_onnx_input(model: Any) -> bool:
    """An ONNX model (a ModelProto or a path ending in .onnx) rather than a package."""
    return not isinstance(model, (str, os.PathLike)) or str(model).endswith(".onnx")


def open_session(path: str | os.PathLike, provider: ProviderOptions, strict: bool, trusted_keys: Any) -> Session:
    return Session(
        path,
        strict=strict,
        device_id=provider.device_id,
        num_of_threads=provider.num_of_threads,
        num_streams=provider.num_streams,
        performance_hint=provider.performance_hint,
        trusted_keys=trusted_keys,
    )


def load(
    path: str | os.PathLike, *, strict: bool = False, trusted_keys: list[Any] | None = None, **options: Any
) -> Session:
    """Open a .ovpkg and prepare it to run on this host (the runtime side only: no ONNX input here).

    Options are the OpenVINO Execution Provider's keys; strict=True refuses any device substitution;
    trusted_keys (Ed25519 public keys, PEM bytes or paths) require a manifest signed by one of them. With
    OV_USE_COMPILED_NETWORK=1 and OV_BLOB_PATH=<package> in the environment, that package is loaded instead.
    """
    provider = ProviderOptions.parse(options)
    blob_path = blob_path_from_environment()
    if blob_path is not None:
        log.info("OV_USE_COMPILED_NETWORK=1: loading %s from OV_BLOB_PATH", blob_path)
        path = blob_path
    return open_session(path, provider, strict, trusted_keys)
