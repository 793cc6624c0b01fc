"""Executors: run a protocol's (condition, seed) jobs and write each result to the store.

``serial`` runs jobs in this process; ``pool`` runs them in ``--workers N`` spawned
processes. Either way this process is the store's only writer, and every run sets
its own torch thread count, so the executor never changes the numbers.
"""

from __future__ import annotations

import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from tqdm.auto import tqdm

from bioplaus.errors import BioplausError
from bioplaus.protocol import Protocol, config_hash, load_protocol
from bioplaus.store import FINISHED, Store
from bioplaus.train import RunResult, train_run

EXECUTORS = ("serial", "pool")


@dataclass
class SweepReport:
    """What a sweep did: counts of runs by outcome."""

    skipped: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0

    @property
    def ran(self) -> int:
        return self.done + self.diverged + self.failed


def plan(protocol: Protocol, store: Store, overwrite: bool = False) -> list[tuple[str, int]]:
    """The jobs still to run. A finished run with a different config is an error unless ``overwrite``."""
    existing = store.finished_configs(protocol.name)
    conflicts = []
    for condition, seed in protocol.jobs():
        status, h = existing.get((condition, seed), (None, None))
        if status in FINISHED and h != config_hash(protocol.run_config(condition, seed)):
            conflicts.append((condition, seed))
    if conflicts:
        if not overwrite:
            c, s = conflicts[0]
            raise BioplausError(
                f"{store.path}: holds {len(conflicts)} finished run(s) of protocol '{protocol.name}' made with a different "
                f"configuration (e.g. condition '{c}', seed {s}; --quick and full runs differ). Use another --store, or "
                f"--overwrite to replace them."
            )
        store.delete_runs(protocol.name, conflicts)
        existing = store.finished_configs(protocol.name)
    return [job for job in protocol.jobs() if existing.get(job, (None,))[0] not in FINISHED]


_WORKER_PROTOCOLS: dict[tuple[str, bool], Protocol] = {}


def _worker_protocol(source: str | None, quick: bool, pickled: Protocol | None) -> Protocol:
    if pickled is not None:
        return pickled
    key = (source, quick)
    if key not in _WORKER_PROTOCOLS:
        p = load_protocol(source)
        _WORKER_PROTOCOLS[key] = p.quick_version() if quick else p
    return _WORKER_PROTOCOLS[key]


def _pool_job(source, quick, pickled, condition, seed, device, data_dir) -> tuple[RunResult | None, str | None]:
    try:
        protocol = _worker_protocol(source, quick, pickled)
        return train_run(protocol, condition, seed, device=device, data_dir=data_dir), None
    except Exception as e:  # a failed run is recorded, and the sweep goes on
        return None, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"


def run_protocol(
    protocol: Protocol,
    store: Store,
    workers: int = 1,
    device: str = "cpu",
    data_dir: str | None = None,
    quick: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> SweepReport:
    """Run every unfinished (condition, seed) of ``protocol`` into ``store``.

    ``quick`` says whether ``protocol`` is the ``--quick`` version of its script (pool
    workers rebuild it from the script). Finished runs are skipped.
    """
    if workers < 1:
        raise BioplausError(f"--workers must be a positive integer, got {workers}.")
    protocol.task.check(data_dir)
    jobs = plan(protocol, store, overwrite)
    report = SweepReport(skipped=len(protocol.jobs()) - len(jobs))
    if not jobs:
        return report
    outer = tqdm(total=len(jobs), desc=f"{protocol.name}: runs", unit="run", disable=not progress, file=sys.stderr)

    def write(run_id: int, result: RunResult | None, error: str | None) -> None:
        if result is None:
            store.finish_run(run_id, "failed", [], error=error)
            report.failed += 1
            outer.write(f"run {run_id} failed: {error.splitlines()[0] if error else ''}")
        else:
            store.finish_run(run_id, result.status, result.rows, result.arrays, result.diverged_step, result.duration_s)
            setattr(report, result.status, getattr(report, result.status) + 1)
        outer.update(1)

    def start(condition: str, seed: int) -> int:
        config = protocol.run_config(condition, seed)
        return store.start_run(protocol.name, condition, protocol.rule(condition).name, seed, config, config_hash(config))

    try:
        if workers == 1:
            for condition, seed in jobs:
                run_id = start(condition, seed)
                outer.set_postfix_str(f"{condition} seed {seed}")
                inner = tqdm(total=protocol.steps, desc="steps", leave=False, disable=not progress, file=sys.stderr, mininterval=0.5)
                last = [0]

                def tick(step: int) -> None:
                    if step - last[0] >= 25 or step == protocol.steps:
                        inner.update(step - last[0])
                        last[0] = step

                try:
                    result, error = train_run(protocol, condition, seed, device, data_dir, progress=tick), None
                except BioplausError:
                    raise
                except Exception as e:
                    result, error = None, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                finally:
                    inner.close()
                write(run_id, result, error)
        else:
            pickled = None if protocol.source else protocol
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                pending: dict[Any, int] = {}
                queue = list(jobs)
                while queue or pending:
                    while queue and len(pending) < 2 * workers:
                        condition, seed = queue.pop(0)
                        run_id = start(condition, seed)
                        fut = pool.submit(_pool_job, protocol.source, quick, pickled, condition, seed, device, data_dir)
                        pending[fut] = run_id
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        write(pending.pop(fut), *fut.result())
    finally:
        outer.close()
    return report
