"""ovaot as an ONNX backend (onnx.backend.base): prepare compiles a package and loads it, run runs it."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from onnx import ModelProto
from onnx.backend.base import Backend, BackendRep

from ovaot.compiler import compile
from ovaot.loader import Session, load


class OvaotRep(BackendRep):
    """A prepared model: the loaded package's Session, fed positionally or by name."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.input_names = [i.name for i in session.get_inputs()]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        if isinstance(inputs, Mapping):
            feed = dict(inputs)
        else:
            values = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
            feed = dict(zip(self.input_names, values))
        return tuple(self.session.run(None, feed))


class OvaotBackend(Backend):
    """prepare(model, device="CPU", target="CPU_FP32", **compile_options) -> OvaotRep (validate on by default)."""

    @classmethod
    def prepare(cls, model: ModelProto, device: str = "CPU", **kwargs: Any) -> OvaotRep:
        target = kwargs.pop("target", "CPU_FP32")
        kwargs.setdefault("validate", True)
        kwargs.setdefault("validate_edge_values", True)
        kwargs.setdefault("reproducible", False)  # a temporary package: byte-stable blobs buy nothing here
        with tempfile.TemporaryDirectory(prefix="ovaot-backend-") as tmp:
            package = Path(tmp) / "model.ovpkg"
            compile(model, target, package, **kwargs)
            return OvaotRep(load(package))

    @classmethod
    def run_model(cls, model: ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[Any, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device.split(":")[0].upper() == "CPU"


prepare = OvaotBackend.prepare
run_model = OvaotBackend.run_model
supports_device = OvaotBackend.supports_device

__all__ = ["OvaotBackend", "OvaotRep", "prepare", "run_model", "supports_device"]
