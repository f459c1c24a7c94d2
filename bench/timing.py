"""Repeat-and-median timing shared by every benchmark stage."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable


def measure(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> dict:
    """Median, min and max wall time of `fn` over `repeat` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": repeat}
