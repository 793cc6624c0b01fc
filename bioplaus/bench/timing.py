"""Timing on a shared, noisy machine: interleaved repetitions and ratios within a repetition.

Every benchmark suite measures its variants with :func:`interleaved` (the order rotates
each repetition) and reports :func:`ratio_stats` of two variants timed in the same
repetitions, so that drifts of the machine cancel.
"""

from __future__ import annotations

import datetime
import platform
import statistics
import time
from typing import Callable

import torch


def interleaved(fns: dict[str, Callable[[int], None]], repeats: int, steps: int, warmup: int = 10,
                clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per ``steps`` calls ``fn(i)`` of each variant, one entry per repetition.

    ``clock``: wall-clock time by default; ``time.process_time`` counts only this
    process's CPU time, which waiting for a core on a crowded machine does not inflate.
    """
    for fn in fns.values():
        for i in range(warmup):
            fn(i)
    times: dict[str, list[float]] = {label: [] for label in fns}
    labels = list(fns)
    for r in range(repeats):
        for label in labels[r % len(labels):] + labels[: r % len(labels)]:
            fn = fns[label]
            t0 = clock()
            for i in range(steps):
                fn(i)
            times[label].append(clock() - t0)
    return times


def ratio_stats(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """Median, minimum and maximum of the per-repetition ratios ``num[r] / den[r]``."""
    ratios = [a / b for a, b in zip(num, den)]
    return statistics.median(ratios), min(ratios), max(ratios)


def machine(threads: int) -> str:
    """One line naming the CPU, OS, torch version, thread count and date."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (f"Machine: {cpu}, {platform.system()} {platform.machine()}, torch {torch.__version__}, "
            f"{threads} thread(s); {datetime.date.today().isoformat()}")
