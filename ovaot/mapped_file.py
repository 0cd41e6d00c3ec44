"""A file's bytes without reading them into memory: a read-only memory map."""

from __future__ import annotations

import mmap
import os


def mapped(path: str | os.PathLike) -> mmap.mmap | bytes:
    """The file's bytes, memory-mapped (an empty file, which cannot be mapped: b""). The map stays open while it
    is referenced (OpenVINO reads an IR's weights or a blob where they lie) and closes when it is let go."""
    with open(path, "rb") as file:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(file.fileno()).st_size else b""
