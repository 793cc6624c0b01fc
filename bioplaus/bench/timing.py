"""Timing on a shared, noisy machine: interleaved repetitions and ratios within a repetition.

Every benchmark suite measures its variants with :func:`interleaved` (blocks of steps, the
order rotating each repetition) or :func:`alternating` (single steps, the variants taking
turns, each step timed alone) and reports :func:`ratio_stats` of two variants timed in the
same repetitions, so that drifts of the machine cancel. Alternating single steps puts the
machine's slow and fast moments on every variant alike: on the shared 2-core machine
repeated runs of the fa_family suite agreed to about 1 % this way against 10-25 % with
blocks of 40-60 steps.
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


def alternating(fns: dict[str, Callable[[int], None]], repeats: int, steps: int, warmup: int = 10,
                clock: Callable[[], float] = time.process_time) -> dict[str, list[float]]:
    """Seconds per ``steps`` calls ``fn(i)`` of each variant, one entry per repetition, the
    variants alternating call by call (order rotating with the step) and each call timed alone."""
    for fn in fns.values():
        for i in range(warmup):
            fn(i)
    labels = list(fns)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for r in range(repeats):
        total = dict.fromkeys(labels, 0.0)
        for i in range(steps):
            k = (r * steps + i) % len(labels)
            for label in labels[k:] + labels[:k]:
                t0 = clock()
                fns[label](i)
                total[label] += clock() - t0
        for label in labels:
            times[label].append(total[label])
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
