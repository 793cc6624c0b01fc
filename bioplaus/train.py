"""One run: train a model with a rule on a task, recording metrics against backprop.

Each step the rule's estimate is written into ``p.grad`` and an ordinary ``torch.optim``
optimizer steps. At recording steps (0, every ``record_every``, the last) the same
forward pass also yields the exact gradient's deltas, so ``update_angle`` compares the
rule with backprop on the very batch it learns from. When learned-weight metrics are
asked for, a backprop reference trains in lockstep from the same initial weights on
the same batches: it lives inside the run, so kill/resume and parallel execution
cannot change it.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from bioplaus import metrics as M
from bioplaus.core import Batch, Row, RunResult
from bioplaus import models
from bioplaus.protocol import Protocol
from bioplaus.rules import Backprop, LayeredRule, Rule
from bioplaus.rules.backprop import chain_rule_deltas
from bioplaus.rules.base import gradients_from_deltas, layer_of
from bioplaus.seeding import generator
from bioplaus.tasks.base import TaskInstance
from bioplaus.tasks.data_choice import resolve_data_dir

def make_optimizer(spec: tuple[str, dict], params) -> torch.optim.Optimizer:
    name, kwargs = spec
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop}[name]
    return cls(params, **kwargs)


def apply_estimate(model: nn.Module, estimate: dict[str, Tensor], opt: torch.optim.Optimizer) -> None:
    """Write the rule's estimate into ``.grad`` and step the optimizer."""
    for name, p in model.named_parameters():
        p.grad = estimate[name]
    opt.step()


def layer_groups(model: nn.Module) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name, _ in model.named_parameters():
        groups.setdefault(layer_of(name), []).append(name)
    return groups


def params_of(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach() for k, v in model.named_parameters()}


def estimate_step(rule: Rule, model: nn.Module, batch: Batch, want_reference: bool):
    """The rule's estimate, the batch loss and (if asked) the update angles to backprop."""
    if isinstance(rule, LayeredRule) and hasattr(model, "forward_pass"):
        fp = model.forward_pass(batch.x, batch.y, batch.loss_fn)
        deltas = rule.deltas(model, fp)
        estimate = gradients_from_deltas(model, fp, deltas)
        angles = None
        if want_reference:
            ref = deltas if isinstance(rule, Backprop) else chain_rule_deltas(model, fp)
            angles = M.update_angles_from_deltas(fp.layer_names, fp.inputs, deltas, ref, estimate, fp.has_bias)
        return estimate, float(fp.loss.detach()), angles
    estimate = rule.estimate(model, batch)
    with torch.no_grad():
        loss = float(batch.loss(model(batch.x)))
    angles = None
    if want_reference:
        angles = M.update_angles(estimate, Backprop().estimate(model, batch), layer_groups(model))
    return estimate, loss, angles


class Trainer:
    """The state of one run and its step: the rule's update, and metrics at recording steps.

    ``metrics`` are names from :data:`bioplaus.metrics.METRICS`; learned-weight metrics
    make the trainer keep a backprop reference in lockstep.
    """

    def __init__(self, model: nn.Module, rule: Rule, task: TaskInstance, optimizer: tuple[str, dict],
                 metrics: set[str] | list[str], batch_size: int, cka_samples: int = 2000):
        self.model, self.rule, self.task = model, rule, task
        self.wanted = set(metrics)
        self.opt = make_optimizer(optimizer, model.parameters())
        rule.bind_optimizer(optimizer)
        self.groups = layer_groups(model)
        self.initial = {k: v.clone() for k, v in params_of(model).items()}
        self.reference = self.ref_opt = None
        if self.wanted & set(M.LEARNED_WEIGHT_METRICS):
            self.reference = copy.deepcopy(model)
            self.ref_opt = make_optimizer(optimizer, self.reference.parameters())
        self.cka_x = task.test[0][:cka_samples]
        self.per_epoch = task.n_train / batch_size if task.n_train else None
        self.rows: list[Row] = []

    def record(self, step: int, loss: float, angles: dict[str, float] | None) -> None:
        wanted, model, rule, reference = self.wanted, self.model, self.rule, self.reference
        epoch = step / self.per_epoch if self.per_epoch else None
        rows = self.rows

        def add(metric: str, layer: str, value: float) -> None:
            # A non-finite value (e.g. from a diverged backprop reference) is not a measurement.
            if metric in wanted and math.isfinite(value):
                rows.append((step, epoch, metric, layer, float(value)))

        add("loss", "all", loss)
        if wanted & {"test_loss", "test_accuracy", "train_accuracy"}:
            for k, v in self.task.evaluate(model).items():
                add(k, "all", v)
        for layer, theta in (angles or {}).items():
            add("update_angle", layer, theta)
        if wanted & set(M.FEEDBACK_METRICS):
            for row in M.feedback_alignment_metrics(rule.feedback(), rule.feedback_targets(model)):
                add(*row)
        if reference is not None:
            for row in M.learned_weight_metrics(self.initial, params_of(model), params_of(reference), self.groups):
                add(*row)
            if "representation_cka" in wanted and hasattr(model, "hidden_states"):
                mine, theirs = model.hidden_states(self.cka_x), reference.hidden_states(self.cka_x)
                for layer in mine:
                    value = M.linear_cka(mine[layer], theirs[layer])
                    if value is not None:
                        add("representation_cka", layer, value)

    def step(self, step: int, batch: Batch, record: bool, update: bool = True) -> float:
        """Estimate on ``batch``; record metrics if asked; then apply the update. Returns the batch loss."""
        estimate, loss, angles = estimate_step(self.rule, self.model, batch, record and "update_angle" in self.wanted)
        if not math.isfinite(loss):
            return loss
        if record:
            self.record(step, loss, angles)
        if update:
            apply_estimate(self.model, estimate, self.opt)
            self.rule.update_feedback(self.model, batch, estimate)
            if self.reference is not None:
                apply_estimate(self.reference, Backprop().estimate(self.reference, batch), self.ref_opt)
        return loss


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
    exact = Backprop().estimate(model, batch)
    gradient = torch.cat([exact[k].reshape(-1) for k in names])
    estimates = torch.stack([torch.cat([e[k].reshape(-1) for k in names]) for e in (rule.estimate(model, batch) for _ in range(n))])
    ms = sorted({2**i for i in range(n.bit_length()) if 2**i <= n} | {n})
    return [(m, None, metric, "all", value) for m, metric, value in M.estimator_curve(estimates, gradient, ms)
            if metric in wanted and math.isfinite(value)]


def train_run(
    protocol: Protocol,
    condition: str,
    seed: int,
    device: str = "cpu",
    data_dir: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Run one (condition, seed) of ``protocol`` and return its metric rows and arrays."""
    t0 = time.perf_counter()
    protocol = resolve_data_dir(protocol, data_dir)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(protocol.threads)
    run = models.kind(protocol.model.kind).run or _train
    try:
        result = run(protocol, condition, seed, device, data_dir, progress)
    finally:
        torch.set_num_threads(threads_before)
    result.duration_s = time.perf_counter() - t0
    return result


def _train(protocol, condition, seed, device, data_dir, progress, trainer_class: type[Trainer] | None = None) -> RunResult:
    """The rate trainer's run loop; ``trainer_class`` (a :class:`Trainer` subclass) lets a model kind add what it records."""
    root = protocol.root_seed
    task = protocol.task.instantiate(generator(root, seed, "data"), data_dir, device, protocol.batch_size)
    model = models.build(protocol.model, generator(root, seed, "init")).to(device)
    rule = protocol.rule(condition).fresh()
    rule.setup(model, generator(root, seed, f"rule:{rule.name}"))
    trainer = (trainer_class or Trainer)(model, rule, task, protocol.optimizer, protocol.metrics, protocol.batch_size,
                                         protocol.cka_samples)

    result = RunResult(status="done", rows=trainer.rows)
    if set(protocol.metrics) & set(M.ESTIMATOR_METRICS):
        trainer.rows.extend(estimator_rows(rule, model, task, protocol.batch_size, set(protocol.metrics)))
    for step in range(protocol.steps + 1):
        is_record = step % protocol.record_every == 0 or step == protocol.steps
        loss = trainer.step(step, task.next_batch(), is_record, update=step < protocol.steps)
        if not math.isfinite(loss):
            result.status, result.diverged_step = "diverged", step
            break
        if step < protocol.steps:
            result.steps_done = step + 1
            if progress is not None:
                progress(step + 1)

    arrays = {f"initial/{k}": v.cpu().numpy() for k, v in trainer.initial.items()}
    arrays.update({f"final/{k}": v.cpu().numpy() for k, v in params_of(model).items()})
    arrays.update(rule.arrays())
    if trainer.reference is not None:
        arrays.update({f"reference/{k}": v.cpu().numpy() for k, v in params_of(trainer.reference).items()})
    result.arrays = arrays
    return result
