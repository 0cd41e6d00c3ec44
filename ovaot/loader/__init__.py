"""The runtime side: load a .ovpkg and run it.

Imports numpy, OpenVINO's C library (through ctypes, not the openvino package) and ovaot's manifest; never
the compiler, and onnx only for packages with fallback partitions.
"""

from ovaot.loader.load import load
from ovaot.loader.session import IOInfo, Placement, Session

__all__ = ["IOInfo", "Placement", "Session", "load"]
