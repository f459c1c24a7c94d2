"""Repeat-and-median timing shared by every benchmark stage."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

MIN_TOTAL_S = 1.5  # fast stages repeat until they have run this long, so their median is of many runs
MAX_RUNS = 60


def measure(fn: Callable[[], object], repeat: int = 5, warmup: int = 1, min_total_s: float = MIN_TOTAL_S) -> dict:
    """Median, min and max wall time of `fn` after `warmup` runs: at least `repeat` runs, and more (up to
    MAX_RUNS) until the runs add up to `min_total_s`, so a sub-second stage is not judged on five samples
    of a shared, noisy host."""
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < repeat or (sum(times) < min_total_s and len(times) < MAX_RUNS):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times)}
