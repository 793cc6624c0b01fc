"""What spiking protocols share: the task base class, conditions, and the ``spiking`` model kind.

A spiking task owns its run loop (:meth:`SpikingTask.simulate`): it builds an explicit
``brian2.Network`` from the protocol's model spec and the condition's plasticity rule,
runs it in ``protocol.steps`` chunks of ``duration_s / steps`` seconds of biological
time, and records metrics every ``protocol.record_every`` chunks. In the metric rows,
``step`` is the chunk index and ``epoch`` holds the biological time in seconds.
Spike trains and weight snapshots go to the run's ``.npz`` arrays.

Randomness: Brian2's generator is seeded from ``(root, seed, "spiking")``, and initial
weights are drawn with numpy from ``(root, seed, "init")``, so a run is reproducible
bit for bit on one target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from bioplaus.errors import BioplausError
from bioplaus.model_kind import ModelKind
from bioplaus.spiking.network import run
from bioplaus.spiking.plasticity import SpikingRule
from bioplaus.spiking.spec import SpikingSpec, spiking_spec_from_dict
from bioplaus.tasks.base import Task


class SpikingTask(Task):
    """Base class of tasks for spiking networks; subclasses implement :meth:`simulate`."""

    name = "spiking_task"
    kind = "spiking"
    #: whether the task runs without Python between chunks, so that the cpp_standalone target can run it
    standalone: ClassVar[bool] = False

    def check_model(self, spec: SpikingSpec) -> str | None:
        """A message saying why ``spec`` does not fit this task, or ``None``."""
        return None

    def simulate(self, protocol: Any, rule: SpikingRule, seed: int, progress: Callable[[int], None] | None) -> Any:
        """Run one (condition, seed) and return a :class:`bioplaus.core.RunResult`."""
        raise NotImplementedError

    def instantiate(self, *args, **kwargs):
        raise BioplausError(f"task {self.name!r} is a spiking task: it runs only with a spiking model (kind = \"spiking\").")


def _check_task(spec: SpikingSpec, task: Task) -> str | None:
    if not isinstance(task, SpikingTask):
        return f"spiking model {spec.name!r} needs a spiking task (e.g. spiking.PoissonDrive()), got task {task.name!r}."
    if spec.target == "cpp_standalone" and not task.standalone:
        # the tasks' run loops read weights and spikes and deliver rewards from Python between chunks
        return (f"spiking model {spec.name!r}: field 'target' is 'cpp_standalone', which task {task.name!r} cannot use (its run "
                f"loop works between chunks of simulation); allowed values here are 'cython' or 'numpy'. "
                f"cpp_standalone is measured by 'bioplaus bench spiking'.")
    return task.check_model(spec)


def _build(spec: SpikingSpec, generator: Any) -> SpikingSpec:
    # Spiking networks are built inside their task's simulate(), which knows the plasticity rule.
    return spec


KIND = ModelKind("spiking", SpikingSpec, spiking_spec_from_dict, _build, _check_task,
                 capabilities=lambda spec: frozenset({"spiking:brian2"}), engine="brian2")


def chunk_schedule(protocol: Any, duration_s: float) -> tuple[int, float]:
    """``(chunks, chunk_s)``: the run is ``protocol.steps`` chunks of equal biological time."""
    if protocol.steps < 1:
        raise BioplausError(f"protocol {protocol.name!r}: a spiking protocol needs steps >= 1 (simulation chunks), got {protocol.steps}.")
    return protocol.steps, duration_s / protocol.steps


def run_chunks(net: Any, target: str, duration_s: float, dt_s: float, chunks: int,
               progress: Callable[[int], None] | None) -> None:
    """Simulate ``net`` for ``duration_s`` plus one time step (so that samples at the end
    are taken): on cpp_standalone in one ``run`` (the whole program is compiled and run at
    once, nothing to report between chunks), otherwise in ``chunks`` equal pieces with
    ``progress(k)`` after each."""
    if target == "cpp_standalone":
        run(net, duration_s + dt_s)
    else:
        for k in range(1, chunks + 1):
            run(net, duration_s / chunks)
            if progress is not None and k < chunks:
                progress(k)
        run(net, dt_s)
    if progress is not None:
        progress(chunks)


def weight_fractions(w: np.ndarray, w_max: float, near: float = 0.1) -> tuple[float, float]:
    """Fractions of weights within ``near * w_max`` of ``w_max`` and of 0."""
    x = np.asarray(w, dtype=np.float64) / w_max
    return float(np.mean(x >= 1.0 - near)), float(np.mean(x <= near))
