"""Executors: run a protocol's (condition, seed) jobs and write each result to the store.

``serial`` runs jobs in this process; ``pool`` runs them in ``--workers N`` spawned
processes. Either way this process is the store's only writer, and every run sets
its own torch thread count, so the executor never changes the numbers.
"""

from __future__ import annotations

import pickle
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


_WORKER_PROTOCOLS: dict[tuple[str | None, bool, bytes], Protocol] = {}


def _worker_protocol(source: str | None, quick: bool, blob: bytes) -> Protocol:
    """The protocol object the main process sent; rebuilt from its script when it cannot be
    unpickled here (objects whose classes are defined inside the protocol script)."""
    key = (source, quick, blob)
    if key not in _WORKER_PROTOCOLS:
        try:
            protocol = pickle.loads(blob)  # the parent's own object, sent to its worker: not stored results
        except (ImportError, AttributeError):
            if source is None:
                raise
            protocol = load_protocol(source)
            protocol = protocol.quick_version() if quick else protocol
        _WORKER_PROTOCOLS[key] = protocol
    return _WORKER_PROTOCOLS[key]


def _pool_job(source, quick, blob, condition, seed, expected_hash, device, data_dir) -> tuple[RunResult | None, str | None]:
    try:
        protocol = _worker_protocol(source, quick, blob)
        found = config_hash(protocol.run_config(condition, seed))
        if found != expected_hash:
            raise BioplausError(
                f"{source}: the worker rebuilt the protocol from its script and got a different configuration "
                f"({found}, expected {expected_hash}): the protocol was changed in memory and holds classes defined "
                f"in the script. Save the change in the script or run with --workers 1."
            )
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

    def start(condition: str, seed: int) -> tuple[int, str]:
        config = protocol.run_config(condition, seed)
        h = config_hash(config)
        return store.start_run(protocol.name, condition, protocol.rule(condition).name, seed, config, h), h

    try:
        if workers == 1:
            for condition, seed in jobs:
                run_id, _ = start(condition, seed)
                outer.set_postfix_str(f"{condition} seed {seed}")
                inner = tqdm(total=protocol.steps, desc="steps", leave=False, disable=not progress, file=sys.stderr, mininterval=0.5)
                last = [0]

                def tick(step: int) -> None:
                    if step - last[0] >= 25 or step == protocol.steps:
                        inner.update(step - last[0])
                        last[0] = step

                try:
                    result, error = train_run(protocol, condition, seed, device, data_dir, progress=tick), None
                except Exception as e:  # a failed run is recorded, and the sweep goes on
                    result, error = None, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
                finally:
                    inner.close()
                write(run_id, result, error)
        else:
            blob = pickle.dumps(protocol)
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                pending: dict[Any, int] = {}
                queue = list(jobs)
                while queue or pending:
                    while queue and len(pending) < 2 * workers:
                        condition, seed = queue.pop(0)
                        run_id, h = start(condition, seed)
                        fut = pool.submit(_pool_job, protocol.source, quick, blob, condition, seed, h, device, data_dir)
                        pending[fut] = run_id
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        write(pending.pop(fut), *fut.result())
    finally:
        outer.close()
    return report
