"""The export worker's process, which a caller may start before it imports anything heavy.

A worker's start-up (Python, numpy, OpenVINO's C library: about 0.2 s) overlaps whatever the compiler does
meanwhile; `ovaot compile` starts one before it imports the compiler (start_early), so that the two imports
run side by side. This module imports nothing of ovaot's, so that starting early costs nothing first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import IO


@dataclass(frozen=True)
class WorkerProcess:
    process: subprocess.Popen  # its stdout: a line per job exported
    stderr: IO[bytes]  # a file, not a pipe: nothing blocks the worker while its stdout is read
    spawned: float  # time.time() when it was started


_early: WorkerProcess | None = None


def spawn() -> WorkerProcess:
    """A new worker process, waiting for the path of its jobs on stdin."""
    stderr = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [sys.executable, "-m", "ovaot.codegen.export_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        # numpy's OpenBLAS starts a thread per core that spins for 0.1 s: the worker makes no BLAS calls, and
        # the compiler has work for the other core meanwhile
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    return WorkerProcess(process, stderr, time.time())


def start_early() -> None:
    """Start the worker that this process's next take() returns."""
    global _early
    if _early is None:
        _early = spawn()


def take() -> WorkerProcess:
    """The worker start_early() started, if it is still alive, else a new one."""
    global _early
    worker, _early = _early, None
    return worker if worker is not None and worker.process.poll() is None else spawn()


__all__ = ["WorkerProcess", "spawn", "start_early", "take"]
