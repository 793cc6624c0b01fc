"""``bioplaus bench [SUITE ...]``: measured speed, never asserted in tests.

Each suite is a module ``bioplaus.bench.<suite>`` with ``main(repeats, steps, threads) -> int``
that prints a Markdown table (see BENCHMARKS.md), listed in :data:`SUITES` and imported only
when it runs (the spiking suite imports Brian2).
"""

from __future__ import annotations

import importlib

SUITES: tuple[str, ...] = ("rules", "sweep", "spiking", "fa_family", "ep", "recurrent", "local_targets", "snn", "estimators", "rl")


def run(names: list[str], repeats: int, steps: int, threads: int) -> int:
    """Run the named suites (all when ``names`` is empty) in order; the first non-zero status wins."""
    status = 0
    for name in names or list(SUITES):
        print(f"## bench {name}\n", flush=True)
        suite = importlib.import_module(f"bioplaus.bench.{name}")
        status = status or suite.main(repeats=repeats, steps=steps, threads=threads)
        print(flush=True)
    return status
