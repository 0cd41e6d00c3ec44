"""The folder a compile writes its IR, blobs and converted model to until they are in the package.

The files live only as long as the compile. On a disk they are written back for nothing, and the kernel slows
the writer down once enough is waiting (here 200 MB of IR and blob cost a compile 0.6 s), so the folder is in
shared memory (/dev/shm) when that has room for a few times the model and TMPDIR names no other place. A
compile that was killed cannot remove its folder, and in shared memory it would hold memory until a reboot:
each folder is named after its process, and the next compile removes those of processes that are gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

SHARED_MEMORY = Path("/dev/shm")
_PREFIX = "ovaot-build-"


def scratch_folder(room_needed: int) -> tempfile.TemporaryDirectory:
    """A new scratch folder (removed by its cleanup()); `room_needed`: bytes the compile may write there."""
    parent = _parent(room_needed)
    _remove_stale(Path(parent or tempfile.gettempdir()))
    return tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{os.getpid()}-", dir=parent)


def room_for(size: int) -> int:
    """Room enough for the files of a model of `size` bytes: a blob per device and an IR, a few times over."""
    return 4 * size + (256 << 20)


def _parent(room_needed: int) -> str | None:
    if os.environ.get("TMPDIR"):
        return None  # the user's choice (tempfile reads it)
    try:
        stats = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    roomy = stats.f_bavail * stats.f_frsize >= room_needed and os.access(SHARED_MEMORY, os.W_OK | os.X_OK)
    return str(SHARED_MEMORY) if roomy else None


def _remove_stale(parent: Path) -> None:
    """Remove the scratch folders of compiles whose process is gone."""
    for folder in parent.glob(f"{_PREFIX}*-*"):
        pid = folder.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


__all__ = ["SHARED_MEMORY", "room_for", "scratch_folder"]
