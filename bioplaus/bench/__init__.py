"""``bioplaus bench [SUITE ...]``: measured speed, never asserted in tests.

Each suite is a module with ``main(repeats, steps, threads) -> int`` that prints a
Markdown table (see BENCHMARKS.md), listed in :data:`SUITES` as ``"module:function"``
and imported only when it runs.
"""

from __future__ import annotations

import importlib

SUITES: dict[str, str] = {
    "rules": "bioplaus.bench.rules:main",
    "sweep": "bioplaus.bench.sweep:main",
    "spiking": "bioplaus.bench.spiking:main",
    "fa_family": "bioplaus.bench.fa_family:main",
    "ep": "bioplaus.bench.ep:main",
    "recurrent": "bioplaus.bench.recurrent:main",
    "estimators": "bioplaus.bench.estimators:main",
}


def run(names: list[str], repeats: int, steps: int, threads: int) -> int:
    """Run the named suites (all when ``names`` is empty) in order; the first non-zero status wins."""
    status = 0
    for name in names or list(SUITES):
        module, attr = SUITES[name].split(":")
        print(f"## bench {name}\n", flush=True)
        status = status or getattr(importlib.import_module(module), attr)(repeats=repeats, steps=steps, threads=threads)
        print(flush=True)
    return status
