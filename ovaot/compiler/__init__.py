"""The compiler: an ONNX model, a target and CompileOptions in; one .ovpkg out.

frontend (load, check, normalise) -> passes -> planning (what runs where, and why) -> building (IR, blobs,
checks; refused nodes go back to planning) -> package. compile() in pipeline.py runs them in that order.
"""

from ovaot.compiler.options import CompileOptions
from ovaot.compiler.pipeline import CompileResult, compile

__all__ = ["CompileOptions", "CompileResult", "compile"]
