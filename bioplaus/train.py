"""The one run loop: train a model with a rule on a task, recording metrics against the model's exact gradient.

Every torch model runs here, whatever its kind (feedforward, convnet, energy, recurrent):

1. **Seed streams.** The task's data from ``(root, seed, "data")``, the initial weights from
   ``(root, seed, "init")``, the rule's own randomness from ``(root, seed, "rule:" + name)``
   (:mod:`bioplaus.seeding`); so adding a condition changes no other run, and the lockstep
   backprop reference starts from exactly the weights of the backprop run.
2. **Initial measurements.** Metrics of the initial weights (:data:`bioplaus.metrics.probes.INITIAL_METRICS`):
   estimator statistics of a stochastic rule, a rule's own comparison (EP against BPTT).
   A protocol asking only for these trains nothing (``steps = 0``).
3. **The step**, ``steps + 1`` times (the last only records): draw a batch; the rule's
   ``estimate`` in gradient units (through the model's ``project``); divergence check; at
   recording steps (0, every ``record_every``, the last) the exact gradient on the same batch
   and the probes; then the estimate goes into ``p.grad``, an ordinary ``torch.optim``
   optimizer steps (unless the rule's ``trains_forward()`` says no: a phase that trains only the
   rule's own weights, DTP's alternating schedule), and the rule's ``after_step`` hook runs. A rule with ``update_every``
   (online recurrent learning) instead updates after every window of that many time steps
   within the batch's sequences, each window's estimate measured against the exact gradient
   through the parameters actually used (:meth:`~bioplaus.rate.recurrent.RecurrentNet.history_gradient`).
4. **Learned weights.** When a probe needs it, a backprop reference of the same model trains
   in lockstep from the same initial weights on the same batches, inside the run, so that
   kill/resume and parallel execution cannot change it.

The spiking (Brian2) engine keeps its own simulation (the task's ``simulate``) but runs
under the same outer contract: :func:`train_run` pins the thread counts (torch's, and the
BLAS/OpenMP pools' behind NumPy and SciPy, :func:`bioplaus.threads.pinned_threads`), times
the run and hands back the same :class:`~bioplaus.core.RunResult`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from bioplaus import models
from bioplaus.core import Batch, Row, RunResult, layer_of
from bioplaus.divergence import DivergenceWatch
from bioplaus.metrics.estimator import estimator_curve
from bioplaus.metrics.probes import INITIAL_METRICS, Observation, observe, probes_for
from bioplaus.metrics.alignment import update_angles_from_deltas
from bioplaus.optimizers import make_optimizer
from bioplaus.protocol import Condition, Protocol
from bioplaus.rules.backprop import Backprop, chain_rule_deltas
from bioplaus.rules.base import LayeredRule, Rule, gradients_from_deltas, is_layered
from bioplaus.seeding import generator
from bioplaus.tasks.base import TaskInstance
from bioplaus.threads import pinned_threads

#: sequences per batched call of the per-sequence estimator statistics
ESTIMATOR_CHUNK = 1000


def apply_estimate(model: nn.Module, estimate: dict[str, Tensor], opt: torch.optim.Optimizer) -> None:
    """Write the rule's estimate into ``.grad`` and step the optimizer."""
    for name, p in model.named_parameters():
        p.grad = estimate[name]
    opt.step()


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    """Layer -> its parameters' names (``layers.hidden1.weight`` -> ``hidden1``)."""
    groups: dict[str, list[str]] = {}
    for name, _ in model.named_parameters():
        groups.setdefault(layer_of(name), []).append(name)
    return groups


def params_of(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach() for k, v in model.named_parameters()}


def model_optimizer(model: nn.Module, optimizer: tuple[str, dict[str, Any]]) -> torch.optim.Optimizer:
    """The run's optimizer over ``model``'s parameters. A model may read keywords of its own
    (an energy net's ``layer_lr``) through ``optimizer_groups(kwargs) -> (groups, kwargs)``."""
    name, kwargs = optimizer
    groups = getattr(model, "optimizer_groups", None)
    params, kwargs = groups(dict(kwargs)) if groups is not None else (model.parameters(), kwargs)
    return make_optimizer((name, kwargs), params)


def rule_optimizer(model: nn.Module, optimizer: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The optimizer settings a rule sees (``bind_optimizer``): without the model's own keywords."""
    name, kwargs = optimizer
    groups = getattr(model, "optimizer_groups", None)
    return (name, groups(dict(kwargs))[1]) if groups is not None else (name, kwargs)


class Trainer:
    """One run's state and its step: ``model`` (already built), ``rule`` (already ``setup``), the task's data,
    the optimizer ``(name, kwargs)``, the metric names recorded, and the batch size (for estimator statistics
    and epochs). :func:`run_loop` builds one per (condition, seed); benchmarks and tests drive it directly.
    """

    def __init__(self, model: nn.Module, rule: Rule, task: TaskInstance, optimizer: tuple[str, dict[str, Any]],
                 metrics: set[str] | list[str], batch_size: int, cka_samples: int = 2000, seed: int = 0):
        self.model, self.rule, self.task = model, rule, task
        bind = getattr(task, "bind_model", None)
        if bind is not None:  # a task whose data depend on the model: an environment acting on the agent's policy
            bind(model)
        self.batch_size, self.seed = batch_size, seed
        self.wanted = set(metrics)
        self.probes = probes_for(self.wanted)
        self.after_update_probes = [p for p in self.probes if p.after_update]
        self.opt = model_optimizer(model, optimizer)
        rule.bind_optimizer(rule_optimizer(model, optimizer))
        rule.bind_epoch(max(task.n_train // batch_size, 1) if task.n_train else None)
        self.groups = layer_groups(model)
        self.initial = {k: v.clone() for k, v in params_of(model).items()}
        self.lockstep = self.lockstep_opt = None
        if any(p.needs_lockstep for p in self.probes):
            self.lockstep = copy.deepcopy(model)
            self.lockstep_opt = model_optimizer(self.lockstep, optimizer)
        self.cka_x = task.test[0][:cka_samples]
        self.per_epoch = task.n_train / batch_size if task.n_train else None
        self.windows = getattr(rule, "update_every", None)
        self.rows: list[Row] = []

    # -- measurements --------------------------------------------------------------------
    def initial_rows(self) -> None:
        """Metrics of the initial weights: estimator statistics, a rule's own comparison."""
        wanted = self.wanted & set(INITIAL_METRICS)
        if not wanted:
            return
        if wanted & {"estimate_bias_angle", "estimate_variance"}:
            if hasattr(self.rule, "sequence_estimates"):
                self.rows += sequence_estimator_rows(self.rule, self.model, self.task, self.batch_size, self.seed, wanted)
            else:
                self.rows += estimator_rows(self.rule, self.model, self.task, self.batch_size, wanted)
        rule_rows = getattr(self.rule, "initial_rows", None)
        if rule_rows is not None and wanted & set(getattr(self.rule, "initial_metrics", ())):
            batch = self.task.next_batch()
            self.rows += [(t, None, metric, layer, value) for t, metric, layer, value in rule_rows(self.model, batch, self.wanted)]

    def model_state(self) -> dict[str, Any]:
        report = getattr(self.model, "record_state", None)
        return report() if report is not None else {}

    def record(self, step: int, loss: float, estimate: dict[str, Tensor] | None, reference: dict[str, Tensor] | None,
               aux: dict[str, Any]) -> None:
        model, rule, lockstep = self.model, self.rule, self.lockstep
        state = self.model_state()  # before evaluation, which relaxes an energy net again
        if state.get("converged") is False:  # no exact gradient to compare with at an unconverged fixed point
            reference = None
            aux.pop("update_angle", None)
        aux["model_state"] = state
        aux["rule"] = rule.probe_values()
        obs = Observation(
            loss=loss, estimate=estimate, reference=reference, groups=self.groups, aux=aux,
            evaluate=lambda: self.task.evaluate(model),
            feedback=lambda: (rule.feedback(), rule.feedback_targets(model)),
            weights=None if lockstep is None else lambda: (self.initial, params_of(model), params_of(lockstep)),
            hidden=(lambda: (model.hidden_states(self.cka_x), lockstep.hidden_states(self.cka_x)))
            if lockstep is not None and hasattr(model, "hidden_states") else None,
        )
        epoch = step / self.per_epoch if self.per_epoch else None
        self.rows += [(step, epoch, metric, layer, value) for metric, layer, value in observe(obs, self.probes, self.wanted)]

    # -- the step ------------------------------------------------------------------------
    def estimate(self, batch: Batch, record: bool) -> tuple[dict[str, Tensor], float, dict[str, Any]]:
        """The rule's estimate, the batch loss and auxiliary values (update angles from per-layer deltas)."""
        rule, model = self.rule, self.model
        aux: dict[str, Any] = {}
        if isinstance(rule, LayeredRule) and is_layered(model):
            fp = model.forward_pass(batch.x, batch.y, batch.loss_fn)
            deltas = rule.deltas(model, fp)
            estimate = gradients_from_deltas(model, fp, deltas)
            if record and "update_angle" in self.wanted:
                exact = deltas if isinstance(rule, Backprop) else chain_rule_deltas(model, fp)
                aux["update_angle"] = update_angles_from_deltas(fp.layer_names, fp.inputs, deltas, exact, estimate, fp.has_bias)
            return estimate, float(fp.loss.detach()), aux
        estimate = model.project(rule.estimate(model, batch))
        with torch.no_grad():
            loss = float(batch.loss(model(batch.x)))
        return estimate, loss, aux

    def step(self, step: int, batch: Batch, record: bool, update: bool = True) -> float:
        """Estimate on ``batch``; record metrics if asked; then apply the update. Returns the batch loss."""
        estimate, loss, aux = self.estimate(batch, record)
        if not math.isfinite(loss):
            return loss
        if record:
            reference = None  # the exact gradient, unless the only probe wanting it has its angle from the deltas already
            if any(p.needs_reference and not (p.name == "update_angle" and "update_angle" in aux) for p in self.probes):
                reference = self.model.project(self.model.reference_gradient(batch))
            self.record(step, loss, estimate, reference, aux)
        if update:
            before = self.outputs(batch) if record and self.after_update_probes else None
            if self.rule.trains_forward():  # False: this batch trains only the rule's own weights
                apply_estimate(self.model, estimate, self.opt)
            self.rule.after_step(self.model, batch, estimate)
            if self.lockstep is not None:
                apply_estimate(self.lockstep, self.lockstep.project(self.lockstep.reference_gradient(batch)), self.lockstep_opt)
            if before is not None:
                obs = Observation(loss=loss, estimate=None, reference=None, groups=self.groups,
                                  aux={"step_outputs": (before, self.outputs(batch), batch.y)})
                epoch = step / self.per_epoch if self.per_epoch else None
                self.rows += [(step, epoch, m, layer, v) for m, layer, v in observe(obs, self.after_update_probes, self.wanted)]
        return loss

    def outputs(self, batch: Batch) -> Tensor:
        """The model's outputs on ``batch`` without gradients (for probes that compare them across the update)."""
        with torch.no_grad():
            return self.model(batch.x)

    def window_step(self, step: int, batch: Batch, record: bool, update: bool = True) -> float:
        """One batch of sequences trained online: an update after every window of ``update_every`` time steps
        (:meth:`bioplaus.rules.online.OnlineRule.online_updates`). Recorded: the loss and evaluation before the
        batch, and the mean over its windows of each window's ``update_angle`` / ``update_norm_ratio`` against
        the exact gradient through the parameters each earlier window used."""
        model, rule = self.model, self.rule
        with torch.no_grad():
            loss = float(batch.loss(model(batch.x)))
        if not math.isfinite(loss):
            return loss
        if record:
            self.record(step, loss, None, None, {})
        measure = record and bool(self.wanted & {"update_angle", "update_norm_ratio"})
        history: list[tuple[int, Tensor]] = []
        per_window: dict[tuple[str, str], list[float]] = {}
        t0 = 0
        for estimate, window in rule.online_updates(model, batch, self.windows):
            estimate = model.project(estimate)
            history.append((t0, model.w.detach().clone()))
            if measure:
                exact = model.project(model.history_gradient(batch, history, window.x.shape[1]))
                obs = Observation(loss=loss, estimate=estimate, reference=exact, groups=self.groups)
                for metric, layer, value in observe(obs, [p for p in self.probes if p.needs_reference], self.wanted):
                    per_window.setdefault((metric, layer), []).append(value)
            if update:
                apply_estimate(model, estimate, self.opt)
                rule.after_step(model, window, estimate)
            t0 += window.x.shape[1]
        self.rows += [(step, None, metric, layer, sum(v) / len(v)) for (metric, layer), v in per_window.items()]
        return loss

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"initial/{k}": v.cpu().numpy() for k, v in self.initial.items()}
        arrays.update({f"final/{k}": v.cpu().numpy() for k, v in params_of(self.model).items()})
        arrays.update(self.rule.arrays())
        if self.lockstep is not None:
            arrays.update({f"reference/{k}": v.cpu().numpy() for k, v in params_of(self.lockstep).items()})
        return arrays


def run_loop(protocol: Protocol, condition: Condition, seed: int, device: str,
             progress: Callable[[int], None] | None) -> RunResult:
    """Run one (condition, seed) of ``protocol`` on a torch model (see the module docstring)."""
    root = protocol.root_seed
    task = condition.task.instantiate(generator(root, seed, "data"), protocol.data_dir, device, protocol.batch_size)
    model = models.build(condition.model, generator(root, seed, "init")).to(device)
    rule = condition.rule.fresh()
    rule.setup(model, generator(root, seed, f"rule:{rule.name}"))
    run = Trainer(model, rule, task, condition.optimizer, protocol.metrics, protocol.batch_size, protocol.cka_samples, seed)
    result = RunResult(status="done", rows=run.rows)
    run.initial_rows()
    if (protocol.steps == 0 and run.wanted <= set(INITIAL_METRICS) | {"relax_steps"}) \
            or run.wanted & set(getattr(rule, "initial_metrics", ())):
        return result  # an analysis of the initial weights (a rule's own comparison trains nothing)
    step_fn = run.window_step if run.windows is not None else run.step
    watch = DivergenceWatch(protocol.divergence) if protocol.divergence is not None else None
    for step in range(protocol.steps + 1):
        is_record = step % protocol.record_every == 0 or step == protocol.steps
        loss = step_fn(step, run.task.next_batch(), is_record, update=step < protocol.steps)
        if watch is not None:
            diverged = watch.update(loss)  # a non-finite loss, or a sustained explosion (bioplaus.divergence)
        else:
            diverged = None if math.isfinite(loss) else step
        if diverged is not None:
            result.status, result.diverged_step = "diverged", diverged
            break
        if step < protocol.steps:
            result.steps_done = step + 1
            if progress is not None:
                progress(step + 1)
    result.arrays = run.arrays()
    return result


def train_run(protocol: Protocol, condition: str, seed: int, device: str = "cpu",
              progress: Callable[[int], None] | None = None) -> RunResult:
    """Run one (condition, seed) of ``protocol`` (already resolved for its ``--data-dir``: :meth:`Protocol.for_data_dir`)
    and return its metric rows and arrays. Torch models run :func:`run_loop`; spiking models their task's
    Brian2 simulation, under the same thread count, timing and result."""
    t0 = time.perf_counter()
    c = protocol.condition(condition)
    with pinned_threads(protocol.threads):  # torch's and the BLAS/OpenMP pools': whichever worker runs it, same numbers
        if models.kind(c.model.kind).engine == "brian2":
            result = c.task.simulate(dataclasses.replace(protocol, model=c.model, task=c.task, optimizer=c.optimizer), c.rule, seed, progress)
        else:
            result = run_loop(protocol, c, seed, device, progress)
    result.duration_s = time.perf_counter() - t0
    return result


def estimator_rows(rule: Rule, model: nn.Module, task: TaskInstance, batch_size: int, wanted: set[str]) -> list[Row]:
    """``estimate_bias_angle`` / ``estimate_variance`` of a stochastic rule at the initial weights, with
    ``step = m`` for m = 1, 2, 4, ... up to ``rule.estimator_samples`` (DESIGN.md), on the first
    ``batch_size`` test examples (so the training batches are untouched). Empty for rules without
    ``estimator_samples``."""
    n = getattr(rule, "estimator_samples", 0)
    if n < 2:
        return []
    x, y = task.test
    batch = Batch(x[:batch_size], y[:batch_size], task.loss_fn)
    names = [k for k, _ in model.named_parameters()]
    exact = model.reference_gradient(batch)
    gradient = torch.cat([exact[k].reshape(-1) for k in names])
    estimates = torch.stack([torch.cat([e[k].reshape(-1) for k in names]) for e in (rule.estimate(model, batch) for _ in range(n))])
    ms = sorted({2**i for i in range(n.bit_length()) if 2**i <= n} | {n})
    return [(m, None, metric, "all", value) for m, metric, value in estimator_curve(estimates, gradient, ms)
            if metric in wanted and math.isfinite(value)]


def ms_up_to(m_max: int) -> list[int]:
    """``1, 2, 5, 10, 20, 50, ...`` up to and including ``m_max``."""
    out, decade = [], 1
    while decade <= m_max:
        out += [m for m in (decade, 2 * decade, 5 * decade) if m <= m_max]
        decade *= 10
    return out if out[-1] == m_max else out + [m_max]


def sequence_estimator_rows(rule: Rule, model: nn.Module, task: TaskInstance, m_max: int, seed: int, wanted: set[str]) -> list[Row]:
    """Bias angle and variance of ``m_max`` independent estimates of a rule that gives per-sequence estimates
    (``sequence_estimates``), on one sequence of the test set (the seed picks which), against the exact gradient
    of the recurrent parameters; ``step = m`` for ``m = 1, 2, 5, 10, ...`` (independent noise streams, batched)."""
    x_all, y_all = task.test
    i = seed % x_all.shape[0]
    x, y = x_all[i : i + 1], y_all[i : i + 1]
    loss_fn = task.loss_fn
    exact = model.reference_gradient(Batch(x, y, loss_fn))["recurrent.weight"]
    chunks = []
    for start in range(0, m_max, ESTIMATOR_CHUNK):
        count = min(ESTIMATOR_CHUNK, m_max - start)
        per_sequence, _ = rule.sequence_estimates(model, Batch(x.expand(count, -1, -1), y.expand(count, -1, -1), loss_fn))
        chunks.append(per_sequence * count)  # the batch loss is a mean: undo its 1/count
    estimates = torch.cat(chunks)
    return [(m, None, metric, "recurrent", value) for m, metric, value in estimator_curve(estimates, exact, ms_up_to(m_max))
            if metric in wanted and math.isfinite(value)]
