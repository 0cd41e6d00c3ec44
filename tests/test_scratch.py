"""The compile's scratch folder: shared memory when it has room, TMPDIR when set, and no leftovers of compiles
that were killed."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ovaot.compiler.scratch import SHARED_MEMORY, scratch_folder


def _ended_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_killed_compiles_folder_is_removed_by_the_next_and_a_running_ones_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed = tmp_path / f"ovaot-build-{_ended_pid()}-abc"
    running = tmp_path / f"ovaot-build-{os.getpid()}-def"
    for folder in (killed, running):
        folder.mkdir()
        (folder / "model.bin").write_bytes(b"weights")
    scratch = scratch_folder(room_needed=1)
    try:
        assert not killed.exists() and running.exists()
        assert Path(scratch.name).parent == tmp_path and Path(scratch.name).name.startswith(
            f"ovaot-build-{os.getpid()}-"
        )
    finally:
        scratch.cleanup()
    assert not Path(scratch.name).exists()


@pytest.mark.skipif(not SHARED_MEMORY.is_dir(), reason="this host has no /dev/shm")
def test_shared_memory_when_it_has_room_else_the_temporary_folder(monkeypatch):
    monkeypatch.delenv("TMPDIR", raising=False)
    roomy = scratch_folder(room_needed=1)
    too_big = scratch_folder(room_needed=1 << 60)
    try:
        assert Path(roomy.name).parent == SHARED_MEMORY
        assert Path(too_big.name).parent == Path(tempfile.gettempdir())
    finally:
        roomy.cleanup()
        too_big.cleanup()
