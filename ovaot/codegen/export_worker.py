"""Export compiled blobs in a fresh process, so the bytes do not depend on what this process compiled before.

OpenVINO names the nodes its transformations create from process-wide counters, so the same model compiled
twice in one process exports different blobs, while the first compile in each fresh process gives the same
bytes. The compiler therefore sends every partition of a plan, in order, to one new worker process.

The worker is started before it has work (ExportWorker(), or earlier: worker_process.start_early), so that
Python's start-up and loading OpenVINO's C library overlap the compiler's own work; it then waits for one line
on stdin.

Protocol: `python -m ovaot.codegen.export_worker`, then the path of `jobs.json` on stdin. Each job names an IR
(the paths of its xml and bin files, which the worker reads where they are), a device, properties and, where the
blob is to be checked, seeded sample sets (`<i>.npz`, one array per set and input port); the worker writes job
i's blob to `<i>.blob` and `results.json` next to them:
{"jobs": per job {"precision": ..., "check": ...} or {"error": ...}, stopping at the first error; "stages":
seconds per stage; "ready", "started": when the worker was ready and when it had its jobs (time.time())}.
InProcessExporter runs the same export (export_each) in the calling process.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ovaot.codegen import worker_process
from ovaot.compiler.stages import WORKER_PREFIX, add, recording, stage
from ovaot.engines.blob_check import check_blob
from ovaot.errors import CompileError
from ovaot.format.manifest import BlobCheckStatus
from ovaot.mapped_file import mapped


@dataclass(frozen=True)
class ExportJob:
    xml: Path  # the IR's files (codegen.openvino.save_ir), which stay in place until the package is written
    weights: Path
    device: str
    config: dict[str, str]
    # the blob check's sample sets, each one array per input port; None: not checked
    samples: tuple[tuple[np.ndarray, ...], ...] | None = None

    def __eq__(self, other: object) -> bool:  # arrays do not compare as booleans: compare their bytes
        # the same IR files: an IR is written once per partition generated, so the same files mean the same job
        return isinstance(other, ExportJob) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple:
        sample_key = None
        if self.samples is not None:
            sample_key = tuple(tuple((a.dtype.str, a.shape, a.tobytes()) for a in sample) for sample in self.samples)
        return self.xml, self.weights, self.device, tuple(sorted(self.config.items())), sample_key


@dataclass(frozen=True)
class Exported:
    """A job's result: the blob's file, the precision the compiled model reports and the blob check's finding
    ({"status", "detail"}, None when not checked), or why OpenVINO refused."""

    blob: Path | None = None
    precision: str = ""
    error: str = ""
    check: dict[str, str] | None = None


class Exporter(Protocol):
    """Exports one list of jobs: submit() them (the work may start at once), collect() the results, in order,
    up to and including the first that OpenVINO refuses; close() drops work not collected. exported() tells
    which blobs are written while their checks still run (they are not results yet: a check may fail)."""

    def submit(self, jobs: list[ExportJob]) -> None: ...

    def exported(self) -> Iterator[tuple[int, Path]]: ...

    def collect(self) -> list[Exported]: ...

    def close(self) -> None: ...


def exporter(reproducible: bool, folder: Path) -> Exporter:
    """A fresh exporter for one list of jobs, writing blobs under `folder`: a worker process (byte-reproducible),
    or this process."""
    return ExportWorker(folder) if reproducible else InProcessExporter(folder)


class ExportWorker:
    """One fresh worker process, used for one list of jobs: submit() them, collect() the results. Its files
    (jobs, blobs) go to a new folder in `folder`, which the caller removes once it has read the blobs."""

    def __init__(self, folder: Path) -> None:
        worker = worker_process.take()
        self._process, self._stderr, self._spawned = worker.process, worker.stderr, worker.spawned
        self._parent = folder
        self._folder: Path | None = None
        self._jobs: list[ExportJob] = []

    def export(self, jobs: list[ExportJob]) -> list[Exported]:
        """Compile and export each job in order; a job OpenVINO refuses ends the list with its error."""
        self.submit(jobs)
        return self.collect()

    def submit(self, jobs: list[ExportJob]) -> None:
        """Hand the jobs to the worker, which starts on them at once."""
        self._jobs = list(jobs)
        folder = self._folder = Path(tempfile.mkdtemp(prefix="export-", dir=self._parent))
        listing = []
        with stage("export job files"):
            for i, job in enumerate(jobs):
                entry = {"xml": str(job.xml), "bin": str(job.weights), "device": job.device, "config": job.config}
                if job.samples is not None:
                    samples = {f"{j}_{k}": a for j, s in enumerate(job.samples) for k, a in enumerate(s)}
                    np.savez(folder / f"{i}.npz", **samples)
                    entry["samples"] = f"{i}.npz"
                listing.append(entry)
            (folder / "jobs.json").write_text(json.dumps(listing))
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(f"{folder / 'jobs.json'}\n")
            self._process.stdin.flush()
        except OSError:  # the worker ended before it had work (it could not start): say why
            self._process.communicate()
            raise CompileError(_failure(self._stderr_text())) from None

    def exported(self) -> Iterator[tuple[int, Path]]:
        """Each submitted job's number and blob file as the blob is exported, before it is checked; it ends
        early where the worker stops (a refusal, a crash: collect() says which)."""
        assert self._process.stdout is not None and self._folder is not None
        for _ in self._jobs:
            line = self._process.stdout.readline()
            while line and not line.startswith(_EXPORTED):
                line = self._process.stdout.readline()  # something else wrote to the worker's stdout
            if not line:
                return
            number = int(line.removeprefix(_EXPORTED))
            yield number, self._folder / f"{number}.blob"

    def collect(self) -> list[Exported]:
        """Wait for the worker; the results of the submitted jobs.

        A worker that OpenVINO killed (a signal) while running the blob check's seeded samples is replaced by
        a fresh one that exports the same jobs unchecked (the same bytes: a fresh process again); their check
        says why it was not run.
        """
        assert self._folder is not None, "submit() first"
        self._process.communicate()
        stderr = self._stderr_text()
        results = self._folder / "results.json"
        crashed = self._process.returncode < 0
        if crashed and any(job.samples is not None for job in self._jobs):
            return self._export_unchecked(-self._process.returncode)
        if self._process.returncode != 0 or not results.is_file():
            raise CompileError(_failure(stderr))
        reported = json.loads(results.read_text())
        add(f"{WORKER_PREFIX}start-up", reported["ready"] - self._spawned)
        add(f"{WORKER_PREFIX}idle, waiting for jobs", max(0.0, reported["started"] - reported["ready"]))
        for name, seconds in reported["stages"].items():
            add(f"{WORKER_PREFIX}{name}", seconds)
        return _read_results(reported["jobs"], self._folder)

    def _export_unchecked(self, signal_number: int) -> list[Exported]:
        why = f"OpenVINO crashed (signal {signal_number}) running a seeded sample; exported again unchecked"
        retry = ExportWorker(self._parent)
        results = retry.export([replace(job, samples=None) for job in self._jobs])
        status = {"status": str(BlobCheckStatus.NOT_RUN), "detail": why}
        return [replace(r, check=status) if not r.error else r for r in results]

    def close(self) -> None:
        """Stop the worker, whatever it is doing; its results are not wanted."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()
        self._stderr.close()

    def _stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")


def _failure(stderr: str) -> str:
    return f"the export worker failed: {stderr.strip().splitlines()[-1:]}"


_EXPORTED = "exported "  # the worker's stdout line when a job's blob is written: "exported <number>"


def export_each(
    core: Any, jobs: list[ExportJob], folder: Path, on_exported: Callable[[int], None] = lambda number: None
) -> Iterator[dict[str, str]]:
    """Compile and export each job to `folder`/<i>.blob, in order, through OpenVINO's C API: per job
    {"precision": ...} (what the compiled model reports; with "check", the blob check's finding, for a job with
    a sample) or {"error": ...}, which ends the list.

    A job's compiled and imported models are closed once the next result is asked for (closing a large model
    takes a twentieth of a second): the worker, which exits after the last result, does not wait for that."""
    for i, job in enumerate(jobs):
        blob = folder / f"{i}.blob"
        with ExitStack() as opened:
            try:
                with stage("compile_model"):
                    compiled = core.compile_model_from_memory(
                        job.xml.read_bytes(), mapped(job.weights), job.device, job.config
                    )
                opened.callback(compiled.close)
                with stage("export_model"):
                    compiled.export_model(blob)
            except RuntimeError as exc:
                yield {"error": str(exc)}
                return  # the compiler partitions again; what follows would be compiled after a failure
            on_exported(i)
            try:
                precision = compiled.get_property("INFERENCE_PRECISION_HINT")
            except RuntimeError:
                precision = "device default"
            result: dict[str, Any] = {"precision": precision}
            if job.samples is not None:
                with stage("blob check"):
                    result["check"] = check_blob(
                        core, compiled, mapped(blob), job.device, job.config, job.samples, release=opened
                    )
            yield result


def _read_results(results: list[dict[str, Any]], folder: Path) -> list[Exported]:
    return [
        Exported(error=r["error"])
        if "error" in r
        else Exported(folder / f"{i}.blob", r["precision"], check=r.get("check"))
        for i, r in enumerate(results)
    ]


class InProcessExporter:
    """The same export in this process: no worker to start, but the blobs' bytes depend on what this process
    compiled before (OpenVINO's process-wide name counters), so packages are not byte-reproducible."""

    def __init__(self, folder: Path) -> None:
        self._parent = folder
        self._jobs: list[ExportJob] = []

    def submit(self, jobs: list[ExportJob]) -> None:
        self._jobs = list(jobs)

    def exported(self) -> Iterator[tuple[int, Path]]:
        return iter(())  # the export runs in collect()

    def collect(self) -> list[Exported]:
        from ovaot.engines import ov_c

        folder = Path(tempfile.mkdtemp(prefix="export-", dir=self._parent))
        return _read_results(list(export_each(ov_c.Core(), self._jobs, folder)), folder)

    def close(self) -> None:
        self._jobs = []


def _read_samples(path: Path) -> tuple[tuple[np.ndarray, ...], ...]:
    """The sample sets savez stored as "<set>_<port>"."""
    sets: dict[int, dict[int, np.ndarray]] = {}
    with np.load(path, allow_pickle=False) as stored:
        for key in stored.files:
            number, port = map(int, key.split("_"))
            sets.setdefault(number, {})[port] = stored[key]
    return tuple(tuple(ports[p] for p in sorted(ports)) for _, ports in sorted(sets.items()))


def _main() -> None:
    # OpenVINO's C library through ctypes: the worker starts without the openvino package's import.
    from ovaot.engines import ov_c

    core = ov_c.Core()
    ready = time.time()
    line = sys.stdin.readline().strip()
    if not line:
        return  # closed without jobs
    started = time.time()
    jobs_file = Path(line)
    folder = jobs_file.parent
    with recording() as times:
        with stage("read jobs"):
            jobs = [
                ExportJob(
                    Path(j["xml"]),
                    Path(j["bin"]),
                    j["device"],
                    j["config"],
                    _read_samples(folder / j["samples"]) if "samples" in j else None,
                )
                for j in json.loads(jobs_file.read_text())
            ]
        results: list[dict[str, str]] = []
        exports = export_each(core, jobs, folder, lambda number: print(f"{_EXPORTED}{number}", flush=True))
        for result in exports:  # held: a generator let go of closes what it opened
            results.append(result)
            if len(results) == len(jobs):
                break  # the last job's models are not closed: the process ends
    report = {"jobs": results, "stages": times.seconds, "ready": ready, "started": started}
    (folder / "results.json").write_text(json.dumps(report))
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)  # the compiler waits for this process's end: unwinding OpenVINO and the interpreter is not needed


if __name__ == "__main__":
    _main()

__all__ = ["ExportJob", "ExportWorker", "Exported", "Exporter", "InProcessExporter", "export_each", "exporter"]
