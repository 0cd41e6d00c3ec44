"""The compiler: an ONNX model, a target and CompileOptions in; one .ovpkg out.

frontend (load, check, normalise) -> passes -> planning (what runs where, and why) -> building (IR, blobs,
checks; refused nodes go back to planning) -> package. compile() in pipeline.py runs them in that order.
The stages import each other's modules directly; this package's names load on first use, so that a stage
(ovaot.passes imports samples from here) never waits on the pipeline that imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ovaot.compiler.options import CompileOptions
    from ovaot.compiler.pipeline import CompileResult, compile

__all__ = ["CompileOptions", "CompileResult", "compile"]


def __getattr__(name: str) -> Any:
    if name == "CompileOptions":
        from ovaot.compiler.options import CompileOptions

        return CompileOptions
    if name in ("compile", "CompileResult"):
        from ovaot.compiler import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'ovaot.compiler' has no attribute {name!r}")
