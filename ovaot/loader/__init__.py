"""The runtime side: load a .ovpkg and run it. Imports numpy, openvino and ovaot's manifest, never the compiler."""

from ovaot.loader.load import load
from ovaot.loader.session import IOInfo, Placement, Session

__all__ = ["IOInfo", "Placement", "Session", "load"]
