"""Timing shared by the side-by-side benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def interleaved_medians(calls: dict[str, Callable[[], object]], runs: int, warmup: int = 5) -> dict[str, float]:
    """Median ms of each call, the calls taking turns run by run so that drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(warmup):
        for call in calls.values():
            call()
    for _ in range(runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) * 1000 for name, s in samples.items()}
