"""Executors: run a protocol's (condition, seed) jobs and write each result to the store.

``serial`` runs jobs in this process; ``pool`` in ``--workers N`` spawned processes;
``ray`` as Ray tasks, on a local Ray instance started for the sweep or on a cluster
(``--address HOST:PORT``; joining and the inputs a job carries are in
:mod:`bioplaus.ray_cluster`). Whatever the executor, this process is the store's only
writer (results flow back to it; no SQLite over a network file system), and every job
pins the thread counts of torch and of the BLAS and OpenMP pools to its protocol's
``threads`` (:mod:`bioplaus.threads`), so the executor never changes the numbers.

Each job is claimed in the store before it is computed (see :mod:`bioplaus.store`), so
two sweeps into one store share the work instead of repeating it, and a job whose
claim belongs to a sweep that died is taken over. A job that fails is retried once,
then recorded as ``failed`` with its error, and the sweep goes on.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from tqdm.auto import tqdm

from bioplaus.errors import BioplausError, allowed
from bioplaus.protocol import Protocol, config_hash
from bioplaus.leases import Heartbeat, new_owner
from bioplaus.store import FINISHED, Store
from bioplaus.core import RunResult
from bioplaus import models, ray_cluster
from bioplaus.jobs import die_with_parent, error_text, worker_job
from bioplaus.train import train_run

EXECUTORS = ("serial", "pool", "ray")
POLL_S = 0.5  # how often a sweep looks again at runs another live sweep is computing


@dataclass
class SweepReport:
    """What a sweep did: counts of runs by outcome."""

    skipped: int = 0  # finished before the sweep started
    done: int = 0
    diverged: int = 0
    failed: int = 0
    retried: int = 0
    by_others: int = 0  # finished meanwhile by another sweep into the same store

    @property
    def ran(self) -> int:
        return self.done + self.diverged + self.failed


@dataclass
class Job:
    """One claimed run on its way through an executor."""

    condition: str
    seed: int
    run_id: int
    config_hash: str
    tries: int = 0


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
                f"configuration (e.g. condition '{c}', seed {s}; --quick and full runs differ, and so do runs with and "
                f"without --data-dir). Use another --store, or --overwrite to replace them."
            )
        store.delete_runs(protocol.name, conflicts)
        existing = store.finished_configs(protocol.name)
    return [job for job in protocol.jobs() if existing.get(job, (None,))[0] not in FINISHED]


# -- executors -----------------------------------------------------------------------------

class SerialExecutor:
    """Runs each job in this process when asked for results, with a progress bar over its steps."""

    def __init__(self, protocol: Protocol, device: str, data_dir: str | None, progress: bool):
        self.protocol, self.device, self.data_dir, self.progress = protocol, device, data_dir, progress
        self.jobs: deque[Job] = deque()
        self.capacity = 1

    def submit(self, job: Job) -> None:
        self.jobs.append(job)

    def busy(self) -> int:
        return len(self.jobs)

    def results(self, timeout: float) -> list[tuple[Job, RunResult | None, str | None]]:
        job = self.jobs.popleft()
        steps = self.protocol.steps
        inner = tqdm(total=steps, desc="steps", leave=False, disable=not self.progress, file=sys.stderr, mininterval=0.5)
        last = [0]

        def tick(step: int) -> None:
            if step - last[0] >= 25 or step == steps:
                inner.update(step - last[0])
                last[0] = step

        try:
            result, error = train_run(self.protocol, job.condition, job.seed, self.device, progress=tick), None
        except Exception as e:  # a failed run is recorded, and the sweep goes on
            result, error = None, error_text(e)
        finally:
            inner.close()
        return [(job, result, error)]

    def close(self) -> None:
        pass


class PoolExecutor:
    """``workers`` spawned processes; a pool broken by a dying worker is replaced."""

    def __init__(self, protocol: Protocol, workers: int, quick: bool, device: str, data_dir: str | None):
        self.args = (protocol.source, quick, pickle.dumps(protocol))
        self.device, self.data_dir, self.workers = device, data_dir, workers
        self.capacity = 2 * workers
        self.pool = self._new_pool()
        self.pending: dict[Any, Job] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"), initializer=die_with_parent)

    def submit(self, job: Job) -> None:
        fut = self.pool.submit(worker_job, *self.args, job.condition, job.seed, job.config_hash, self.device, self.data_dir)
        self.pending[fut] = job

    def busy(self) -> int:
        return len(self.pending)

    def results(self, timeout: float) -> list[tuple[Job, RunResult | None, str | None]]:
        finished, _ = wait(self.pending, timeout=timeout, return_when=FIRST_COMPLETED)
        out, broken = [], False
        for fut in finished:
            job = self.pending.pop(fut)
            try:
                out.append((job, *fut.result()))
            except BrokenProcessPool as e:
                broken = True
                out.append((job, None, f"a worker process died ({e})"))
        if broken:  # every other job of the broken pool fails too: report them all, start a new pool
            for job in list(self.pending.values()):
                out.append((job, None, "a worker process died (the pool broke while this run was queued or running)"))
            self.pending.clear()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._new_pool()
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Ray tasks (one CPU each), on a local instance started here or on the cluster at ``address``.

    The sweep's inputs travel with its jobs (:mod:`bioplaus.ray_cluster`): nothing is read
    by path on a worker. ``jobs_by_node`` counts the jobs each node ran.
    """

    def __init__(self, protocol: Protocol, workers: int, quick: bool, device: str, data_dir: str | None,
                 address: str | None, progress: bool = False):
        try:
            import ray
        except ImportError:
            raise BioplausError(
                "--executor ray needs Ray, which is an optional extra: pip install -c constraints.txt -e \".[ray]\" "
                "(or pip install ray); or use --executor pool."
            ) from None
        import logging

        self.ray, self.address, self.progress, self.device = ray, address, progress, device
        self.set_auth_mode = False
        self.pending: dict[Any, Job] = {}
        self.jobs_by_node: Counter[str] = Counter()
        if address is None:
            self.started_here = not ray.is_initialized()
            if self.started_here:
                try:
                    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
                except Exception as e:
                    raise BioplausError(f"--executor ray: could not start a local Ray instance: {type(e).__name__}: {e}") from e
        else:
            self.started_here, self.set_auth_mode = ray_cluster.join(ray, address, logging.ERROR)
        try:
            cpus = int(ray.cluster_resources().get("CPU", workers)) if address else workers
            self.remote = ray.remote(num_cpus=1, max_retries=0)(ray_cluster.run_shipped_job)
            self.inputs = ray.put(ray_cluster.ship_inputs(ray, protocol, quick, data_dir))
        except BaseException:
            self.close()
            raise
        self.capacity = 2 * max(cpus, 1)

    def submit(self, job: Job) -> None:
        ref = self.remote.remote(self.inputs, job.condition, job.seed, job.config_hash, self.device)
        self.pending[ref] = job

    def busy(self) -> int:
        return len(self.pending)

    def results(self, timeout: float) -> list[tuple[Job, RunResult | None, str | None]]:
        ready, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            job = self.pending.pop(ref)
            try:
                result, error, node = self.ray.get(ref)
                self.jobs_by_node[node] += 1
                out.append((job, result, error))
            except Exception as e:  # the task's worker died, or Ray lost it
                out.append((job, None, f"Ray task failed: {type(e).__name__}: {e}"))
        return out

    def close(self) -> None:
        for ref in self.pending:
            self.ray.cancel(ref, force=True)
        if self.progress and self.address is not None and self.jobs_by_node:
            nodes = ", ".join(f"{node}: {n}" for node, n in sorted(self.jobs_by_node.items()))
            print(f"ray: {sum(self.jobs_by_node.values())} job(s) on {len(self.jobs_by_node)} node(s): {nodes}", file=sys.stderr)
        if self.started_here and self.address is not None:
                ray_cluster.leave(self.ray, self.set_auth_mode)
        elif self.started_here:
            self.ray.shutdown()


def check_executor(name: str, workers: int, address: str | None) -> None:
    """Refuse executor options that contradict each other, before anything runs."""
    if name not in EXECUTORS:
        raise BioplausError(f"--executor {name!r} is unknown; allowed values are {allowed(EXECUTORS)}.")
    if address is not None and name != "ray":
        raise BioplausError(f"--address {address} is for --executor ray (a Ray cluster); --executor {name} runs on this machine.")
    if name == "serial" and workers != 1:
        raise BioplausError(f"--executor serial runs one job at a time; --workers {workers} needs --executor pool or ray.")


def make_executor(name: str, protocol: Protocol, workers: int, quick: bool, device: str, data_dir: str | None,
                  address: str | None, progress: bool):
    """The executor called ``name`` (one of :data:`EXECUTORS`)."""
    check_executor(name, workers, address)
    if name == "serial":
        return SerialExecutor(protocol, device, data_dir, progress)
    if name == "pool":
        return PoolExecutor(protocol, workers, quick, device, data_dir)
    return RayExecutor(protocol, workers, quick, device, data_dir, address, progress)


# -- the sweep ---------------------------------------------------------------------------

def run_protocol(
    protocol: Protocol,
    store: Store,
    workers: int = 1,
    device: str = "cpu",
    data_dir: str | None = None,
    quick: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    executor: str | None = None,
    address: str | None = None,
) -> SweepReport:
    """Run every unfinished (condition, seed) of ``protocol`` into ``store``; return when all are finished.

    ``executor`` defaults to ``serial`` for one worker and ``pool`` for more. ``quick``
    says whether ``protocol`` is the ``--quick`` version of its script (workers rebuild
    it from the script when they cannot unpickle it). Finished runs are skipped; runs
    another live sweep is computing are waited for, and taken over if that sweep dies.
    """
    if workers < 1:
        raise BioplausError(f"--workers must be a positive integer, got {workers}.")
    executor = executor or ("serial" if workers == 1 and address is None else "ray" if address else "pool")
    check_executor(executor, workers, address)
    protocol = protocol.for_data_dir(data_dir)  # e.g. digits by default, MNIST and its model with --data-dir: resolved once, here
    protocol.task.check(data_dir)
    jobs = plan(protocol, store, overwrite)
    report = SweepReport(skipped=len(protocol.jobs()) - len(jobs))
    if not jobs:
        return report
    for label in dict.fromkeys(condition for condition, _ in jobs):  # e.g. a compiled kernel, built once here, not per worker
        model = protocol.condition(label).model
        prepare = models.kind(model.kind).prepare
        if prepare is not None:
            prepare(model)
    runner = make_executor(executor, protocol, workers, quick, device, data_dir, address, progress)
    owner = new_owner()
    outer = tqdm(total=len(jobs), desc=f"{protocol.name}: runs", unit="run", disable=not progress, file=sys.stderr)

    def claim(condition: str, seed: int) -> tuple[str, Job | None]:
        config = protocol.run_config(condition, seed)
        h = config_hash(config)
        outcome, run_id = store.claim_run(protocol.name, condition, protocol.rule(condition).name, seed, config, h, owner)
        return outcome, Job(condition, seed, run_id, h) if outcome == "claimed" else None

    def write(job: Job, result: RunResult | None, error: str | None) -> None:
        if result is None:
            stored = store.finish_run(job.run_id, "failed", [], error=error)
            status = "failed"
            if stored:
                outer.write(f"{job.condition} seed {job.seed} failed: {error.splitlines()[0] if error else ''}")
        else:
            stored = store.finish_run(job.run_id, result.status, result.rows, result.arrays, result.diverged_step, result.duration_s)
            status = result.status
        if stored:
            setattr(report, status, getattr(report, status) + 1)
        else:  # our claim was taken over (we were thought dead): the other sweep stores this run
            outer.write(f"{job.condition} seed {job.seed}: another sweep took this run over; its result is kept")
            report.by_others += 1
        outer.update(1)

    queue: deque[tuple[str, int]] = deque(jobs)
    held: list[tuple[str, int]] = []
    try:
        with Heartbeat(store.path, owner):
            while queue or held or runner.busy():
                while queue and runner.busy() < runner.capacity:
                    condition, seed = queue.popleft()
                    outcome, job = claim(condition, seed)
                    if job is not None:
                        outer.set_postfix_str(f"{condition} seed {seed}")
                        runner.submit(job)
                    elif outcome == "held":
                        held.append((condition, seed))
                    else:  # finished by another sweep meanwhile
                        report.by_others += 1
                        outer.update(1)
                if runner.busy():
                    for job, result, error in runner.results(timeout=POLL_S):
                        if error is not None and job.tries == 0:  # one retry, then the failure is recorded
                            job.tries += 1
                            report.retried += 1
                            outer.write(f"{job.condition} seed {job.seed} failed, retrying once: {error.splitlines()[0]}")
                            runner.submit(job)
                        else:
                            write(job, result, error)
                elif held:
                    time.sleep(POLL_S)
                queue.extend(held)
                held.clear()
    finally:
        runner.close()
        outer.close()
    return report
