"""Compile many models for many targets on any concurrent.futures.Executor: a process pool here, or a Dask
cluster (`Client.get_executor()`). Each job is exactly `ovaot compile` (incremental, byte-identical), and one
failure does not stop the others.

The executor runs `compile_job`, a plain module-level function of picklable values, so any executor that can
ship a function to a worker process works; paths are the workers' (a cluster needs a shared filesystem).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ovaot.format.manifest import StrEnum


class JobStatus(StrEnum):
    BUILT = "built"
    UP_TO_DATE = "up to date"
    FAILED = "failed"


@dataclass(frozen=True)
class CompileJob:
    """One `ovaot compile`: a model file, a target, the package to write, and compile options."""

    model: str
    target: str
    output: str
    options: dict[str, Any] = field(default_factory=dict)  # CompileOptions fields and EP options, by name


@dataclass(frozen=True)
class JobResult:
    job: CompileJob
    status: JobStatus
    error: str = ""
    source_digest: str = ""  # the model's BLAKE3, as the manifest records it
    package_digest: str = ""  # the package file's BLAKE3
    seconds: float = 0.0
    host: str = ""  # where it ran

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.job), **{k: v for k, v in asdict(self).items() if k != "job"}}


def compile_job(job: CompileJob) -> JobResult:
    """Run one job; errors come back as a FAILED result with ovaot's message, never as an exception."""
    import blake3

    from ovaot.compiler import compile
    from ovaot.errors import OvaotError, first_line

    start = time.perf_counter()
    host = os.uname().nodename
    try:
        result = compile(job.model, job.target, job.output, **job.options)
    except OvaotError as exc:
        return JobResult(job, JobStatus.FAILED, str(exc), seconds=time.perf_counter() - start, host=host)
    except Exception as exc:  # a defect in ovaot: still one job's result, not the whole fleet's end
        error = f"internal error: {type(exc).__name__}: {first_line(exc)}"
        return JobResult(job, JobStatus.FAILED, error, seconds=time.perf_counter() - start, host=host)
    status = JobStatus.UP_TO_DATE if result.up_to_date else JobStatus.BUILT
    digest = "blake3:" + blake3.blake3(Path(job.output).read_bytes()).hexdigest()
    seconds = time.perf_counter() - start
    return JobResult(job, status, "", result.manifest.source_digest, digest, seconds, host)


def compile_many(
    jobs: Iterable[CompileJob], executor: Executor | None = None, workers: int | None = None
) -> list[JobResult]:
    """Run every job on `executor` (default: a process pool of `workers` processes, default one per core, at
    most one per job); the results in job order."""
    jobs = list(jobs)
    if not jobs:
        return []
    if executor is not None:
        return list(executor.map(compile_job, jobs))
    workers = min(len(jobs), workers or os.cpu_count() or 1)
    # spawn: a fresh interpreter per worker, never a fork of a process holding OpenVINO's threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(compile_job, jobs))


def package_name(model: str | Path, target: str) -> str:
    """<model stem>.<target>.ovpkg, the target's ':' and ',' as '-' (HETERO:GPU,CPU -> HETERO-GPU-CPU)."""
    return f"{Path(model).stem}.{re.sub(r'[^A-Za-z0-9_.-]', '-', target)}.ovpkg"


def plan_jobs(
    models: Sequence[str | Path], targets: Sequence[str], folder: str | Path, **options: Any
) -> list[CompileJob]:
    """Every model for every target, each package in `folder` under package_name()."""
    names = [package_name(m, t) for m in models for t in targets]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        from ovaot.errors import UsageError

        raise UsageError(f"two models would write the same package {clashes[0]}: give the model files distinct names")
    return [
        CompileJob(str(Path(m).resolve()), t, str(Path(folder).resolve() / package_name(m, t)), dict(options))
        for m in models
        for t in targets
    ]


def write_index(folder: str | Path, results: list[JobResult]) -> Path:
    """OUTDIR/index.json: per job the model, target, package, status, error and hashes."""
    path = Path(folder) / "index.json"
    partial = path.with_name(f".index.json.{os.getpid()}")
    partial.write_text(json.dumps({"jobs": [r.to_dict() for r in results]}, indent=2) + "\n")
    os.replace(partial, path)  # never a half-written index
    return path


__all__ = [
    "CompileJob",
    "JobResult",
    "JobStatus",
    "compile_job",
    "compile_many",
    "package_name",
    "plan_jobs",
    "write_index",
]
