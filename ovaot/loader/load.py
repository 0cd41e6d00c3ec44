"""ovaot.load: open a package, or compile an ONNX model first, with the spec's options and env variables."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ovaot.loader.session import Session
from ovaot.options import ProviderOptions

log = logging.getLogger(__name__)

DEFAULT_BLOB_DUMP_PATH = "ov_compiled_blobs"
DEFAULT_DEVICE_TYPE = "CPU_FP32"


def load(
    model: str | os.PathLike | Any,
    *,
    device_type: str | None = None,
    strict: bool = False,
    trusted_keys: list[Any] | None = None,
    **options: Any,
) -> Session:
    """Open a .ovpkg and prepare it to run on this host.

    `model` may also be an ONNX model (a path ending in .onnx, or a ModelProto): it is compiled for
    `device_type` first, into `blob_dump_path` when `use_compiled_network=True` (and imported from there on
    every later load), otherwise into a temporary file. With OV_USE_COMPILED_NETWORK=1 and
    OV_BLOB_PATH=<package> in the environment, that package is loaded instead, whatever `model` is.
    Options are the OpenVINO Execution Provider's keys; strict=True refuses any device substitution;
    trusted_keys (Ed25519 public keys, PEM bytes or paths) require a manifest signed by one of them.
    """
    provider = ProviderOptions.parse(options)
    session_options = {
        "strict": strict,
        "device_id": provider.device_id,
        "num_of_threads": provider.num_of_threads,
        "trusted_keys": trusted_keys,
    }
    blob_path = os.environ.get("OV_BLOB_PATH")
    if os.environ.get("OV_USE_COMPILED_NETWORK", "").strip().lower() in ("1", "true") and blob_path:
        log.info("OV_USE_COMPILED_NETWORK=1: loading %s from OV_BLOB_PATH", blob_path)
        return Session(blob_path, **session_options)
    if not _is_onnx(model):
        return Session(model, **session_options)

    from ovaot.compiler import compile  # only ONNX input pays for the compiler

    target = device_type or DEFAULT_DEVICE_TYPE
    compile_options = {
        k: v for k, v in provider.to_manifest().items() if k not in ("use_compiled_network", "blob_dump_path")
    }
    if provider.use_compiled_network:
        package = _cached_package_path(model, target, compile_options, provider.blob_dump_path)
        if package.is_file():
            log.info("use_compiled_network: importing %s", package)
        else:
            compile(model, target, package, **compile_options)
        return Session(package, **session_options)
    with tempfile.TemporaryDirectory(prefix="ovaot-jit-") as tmp:
        package = Path(tmp) / "model.ovpkg"
        compile(model, target, package, **compile_options)
        return Session(package, **session_options)


def _is_onnx(model: Any) -> bool:
    return not isinstance(model, (str, os.PathLike)) or str(model).endswith(".onnx")


def _cached_package_path(model: Any, target: str, options: dict[str, Any], dump_path: str | None) -> Path:
    """DIR/<name>.<target>.<hash>.ovpkg, the hash covering the model's bytes, the target and the options."""
    if isinstance(model, (str, os.PathLike)):
        name, data = Path(model).stem, Path(model).read_bytes()
    else:
        name, data = model.graph.name or "model", model.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data + repr((target, sorted(options.items()))).encode()).hexdigest()[:16]
    safe_target = re.sub(r"[^A-Za-z0-9_.-]", "_", target)
    return Path(dump_path or DEFAULT_BLOB_DUMP_PATH) / f"{name}.{safe_target}.{digest}.ovpkg"
