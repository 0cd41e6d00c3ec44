"""Where a compile's time goes: wall seconds per stage (`ovaot compile --time-report`, benchmarks.build_step).

The compiler's own stages run on its thread; stage() adds each one's wall time, less the stages nested in it,
to the StageTimes that recording() made current (none: nothing is recorded), so the stages add up to the
compile. The export worker runs beside them in
its own process and reports its stages with its results (`worker:` names), so those overlap the others.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

WORKER_PREFIX = "worker: "


@dataclass
class StageTimes:
    """Seconds per stage, in the order the stages first ran."""

    seconds: dict[str, float] = field(default_factory=dict)
    nested: list[float] = field(default_factory=list)  # per open stage, the seconds of the stages inside it

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


_current: ContextVar[StageTimes | None] = ContextVar("ovaot_stage_times", default=None)


@contextmanager
def recording() -> Iterator[StageTimes]:
    """Record the stages run inside the block (in this thread) into a new StageTimes."""
    times = StageTimes()
    token = _current.set(times)
    try:
        yield times
    finally:
        _current.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage `name`."""
    times = _current.get()
    if times is None:
        yield
        return
    start = time.perf_counter()
    times.nested.append(0.0)
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        times.add(name, elapsed - times.nested.pop())
        if times.nested:
            times.nested[-1] += elapsed


def add(name: str, seconds: float) -> None:
    """Add seconds measured elsewhere (the export worker's) to stage `name`."""
    times = _current.get()
    if times is not None:
        times.add(name, seconds)


def report(seconds: Mapping[str, float], total: float) -> str:
    """A table of the stages: the compiler's, what is left of `total`, then the worker's (which overlap)."""
    own = {name: s for name, s in seconds.items() if not name.startswith(WORKER_PREFIX)}
    worker = {name: s for name, s in seconds.items() if name.startswith(WORKER_PREFIX)}
    width = max(len(name) for name in [*seconds, "other"])
    lines = [f"{'stage':<{width}}  seconds  share"]
    rows = [*own.items(), ("other", max(0.0, total - sum(own.values())))]
    lines += [f"{name:<{width}}  {s:7.3f}  {100 * s / total:4.0f}%" for name, s in rows]
    lines.append(f"{'total':<{width}}  {total:7.3f}")
    if worker:
        lines.append("in the export worker, beside the stages above:")
        lines += [f"{name:<{width}}  {s:7.3f}" for name, s in worker.items()]
    return "\n".join(lines)


__all__ = ["StageTimes", "add", "recording", "report", "stage"]
