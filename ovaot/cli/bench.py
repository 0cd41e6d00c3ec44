"""ovaot bench: load time, latency percentiles and throughput of a package on this host."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ovaot.format.manifest import TENSOR_DTYPES
from ovaot.loader import load


def sample_feed(session: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded values of the declared shapes (symbolic or unknown dimensions become 1)."""
    rng = np.random.default_rng(seed)
    feed = {}
    for info in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in (info.shape or [])]
        dtype = np.dtype(TENSOR_DTYPES.get(info.type, "float32"))
        values = rng.standard_normal(shape) if dtype.kind == "f" else rng.integers(0, 4, size=shape)
        feed[info.name] = values.astype(dtype)
    return feed


def benchmark(
    package: str | Path,
    feed: Mapping[str, Any] | None,
    runs: int,
    in_flight: int,
    advance: Callable[[int], None] = lambda steps: None,
) -> dict[str, Any]:
    start = time.perf_counter()
    session = load(package)
    load_ms = (time.perf_counter() - start) * 1000
    feed = dict(feed) if feed is not None else sample_feed(session)
    start = time.perf_counter()
    session.run(None, feed)
    first_ms = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - start) * 1000)
        advance(1)
    start = time.perf_counter()
    session.run_many([feed] * runs, in_flight=in_flight)
    throughput = runs / (time.perf_counter() - start)
    advance(runs)
    percentiles = {f"p{p}": float(np.percentile(times, p)) for p in (50, 90, 99)}
    return {
        "package": str(package),
        "load_ms": load_ms,
        "first_run_ms": first_ms,
        "runs": runs,
        "latency_ms": {**percentiles, "mean": float(np.mean(times)), "min": float(np.min(times))},
        "in_flight": in_flight,
        "throughput_per_s": throughput,
    }
