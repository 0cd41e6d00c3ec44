"""ovaot.load on an ONNX model: compile it first (cached in blob_dump_path with use_compiled_network=True)."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ovaot.compiler import compile
from ovaot.errors import ModelError
from ovaot.loader.load import open_session
from ovaot.loader.session import Session
from ovaot.options import ProviderOptions, keyword_parameters

log = logging.getLogger(__name__)

DEFAULT_BLOB_DUMP_PATH = "ov_compiled_blobs"
DEFAULT_DEVICE_TYPE = "CPU_FP32"


def compile_and_load(
    model: str | os.PathLike | bytes | Any,
    *,
    device_type: str | None = None,
    strict: bool = False,
    trusted_keys: list[Any] | None = None,
    **options: Any,
) -> Session:
    """Compile an ONNX model (a path ending in .onnx, a ModelProto, or its bytes) and open the result.

    It is compiled for `device_type` (default CPU_FP32): into `blob_dump_path` (default ov_compiled_blobs/)
    when `use_compiled_network=True`, and imported from there on every later load; otherwise into a
    temporary file. Options are the OpenVINO Execution Provider's keys.
    """
    provider = ProviderOptions.parse(options, parameters=keyword_parameters(compile_and_load))
    if isinstance(model, (bytes, bytearray, memoryview)):
        model = _model_from_bytes(model)
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
        return open_session(package, provider, strict, trusted_keys)
    with tempfile.TemporaryDirectory(prefix="ovaot-jit-") as tmp:
        package = Path(tmp) / "model.ovpkg"
        compile(model, target, package, reproducible=False, **compile_options)
        return open_session(package, provider, strict, trusted_keys)


def _model_from_bytes(data: bytes | bytearray | memoryview) -> Any:
    """An ONNX model serialised to bytes (what onnxruntime.InferenceSession also takes)."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(bytes(data))
    except (DecodeError, ValueError, RuntimeWarning):
        model = None
    if model is None or not model.HasField("graph"):  # protobuf reads b"" and many byte strings as an empty model
        raise ModelError("the bytes given are neither an .ovpkg package nor an ONNX model")
    return model


def _cached_package_path(model: Any, target: str, options: dict[str, Any], dump_path: str | None) -> Path:
    """DIR/<name>.<target>.<hash>.ovpkg, the hash covering the model's bytes, the target and the options."""
    if isinstance(model, (str, os.PathLike)):
        name, data = Path(model).stem, Path(model).read_bytes()
    else:
        name, data = model.graph.name or "model", model.SerializeToString(deterministic=True)
    digest = hashlib.sha256(data + repr((target, sorted(options.items()))).encode()).hexdigest()[:16]
    safe_target = re.sub(r"[^A-Za-z0-9_.-]", "_", target)
    return Path(dump_path or DEFAULT_BLOB_DUMP_PATH) / f"{name}.{safe_target}.{digest}.ovpkg"
