"""The runtime side: load a .ovpkg and run it. Imports numpy, openvino and ovaot's manifest, never the compiler."""

from ovaot.loader.session import IOInfo, Session, load

__all__ = ["IOInfo", "Session", "load"]
