"""``bioplaus bench sweep``: how much faster a sweep runs on 2 workers (pool, Ray) than serially.

Eight identical conditions (feedback alignment on the linear teacher task, one seed
each, 1 torch thread per run as in the serial baseline), with the step count chosen
so that one run takes about :data:`RUN_SECONDS`. Each executor runs the whole sweep
once into a fresh store (``--repeats`` and ``--steps`` do not apply: a sweep is long
enough to time alone); Ray's start-up is timed apart from its sweep.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

from bioplaus import Protocol, rules, tasks
from bioplaus.bench.timing import machine
from bioplaus.execute import run_protocol
from bioplaus.store import Store
from bioplaus.train import train_run

CONDITIONS = 8
WORKERS = 2
RUN_SECONDS = 10.0


def sweep_protocol(steps: int, threads: int) -> Protocol:
    return Protocol(
        name="bench_sweep",
        task=tasks.LinearTeacher(n_in=30, n_out=10),
        model="linear_30_20_10",
        rules=[rules.FeedbackAlignment(scale=0.5, label=f"fa_{i}") for i in range(CONDITIONS)],
        seeds=[0],
        steps=steps,
        batch_size=20,
        optimizer=("sgd", {"lr": 1e-3}),
        record_every=max(steps // 20, 1),
        metrics=["loss", "test_loss", "update_angle", "weight_angle"],
        threads=threads,
    )


def _sweep(protocol: Protocol, folder: Path, name: str, **kwargs) -> float:
    with Store(folder / f"{name}.sqlite") as store:
        t0 = time.perf_counter()
        report = run_protocol(protocol, store, progress=False, **kwargs)
        elapsed = time.perf_counter() - t0
    if report.done != CONDITIONS:
        raise RuntimeError(f"bench sweep ({name}): {report.done} of {CONDITIONS} runs done")
    return elapsed


def main(repeats: int = 1, steps: int = 60, threads: int = 1) -> int:
    """Time the sweep serially, on a pool and on Ray; ``repeats`` and ``steps`` are not used."""
    train_run(sweep_protocol(200, threads), "fa_0", 0)  # warm-up: the first run in a process pays for imports
    t0 = time.perf_counter()
    train_run(sweep_protocol(4000, threads), "fa_0", 0)
    per_step = (time.perf_counter() - t0) / 4000
    protocol = sweep_protocol(max(int(RUN_SECONDS / per_step), 100), threads)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        serial = _sweep(protocol, folder, "serial")
        rows.append(("serial", serial, None))
        pool = _sweep(protocol, folder, "pool", workers=WORKERS, executor="pool")
        rows.append((f"pool, {WORKERS} workers", pool, None))
        try:
            import ray
        except ImportError:
            rows.append(("ray", None, "Ray is not installed (pip install -e '.[ray]')"))
        else:
            t0 = time.perf_counter()
            ray.init(num_cpus=WORKERS, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            startup = time.perf_counter() - t0
            try:
                elapsed = _sweep(protocol, folder, "ray", workers=WORKERS, executor="ray")
            finally:
                ray.shutdown()
            rows.append((f"ray, {WORKERS} workers", elapsed, f"Ray start-up {startup:.1f} s, not included"))

    print(f"{machine(threads)}. {CONDITIONS} identical conditions (feedback alignment, linear 30-20-10 teacher, "
          f"{protocol.steps} steps, about {serial / CONDITIONS:.1f} s per run serially), {threads} torch thread(s) per run.")
    print()
    print("| executor | sweep wall time (s) | speed-up against serial | note |")
    print("|---|---:|---:|---|")
    for name, elapsed, note in rows:
        if elapsed is None:
            print(f"| {name} | - | - | {note} |")
        else:
            print(f"| {name} | {elapsed:.1f} | {serial / elapsed:.2f} × | {note or ''} |")
    return 0
