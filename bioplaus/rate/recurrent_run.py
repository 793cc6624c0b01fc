"""How a recurrent-network run goes: training with an online rule, or estimator statistics.

Training (``steps > 0``): each step draws a batch of sequences, asks the rule for its
estimate of the sequence loss's gradient and applies it through the protocol's
optimizer (one update per batch of sequences; the online rules compute their estimate
forwards in time, step by step, within the sequence). An online rule with
``update_every = k`` instead updates after every window of ``k`` time steps, within the
sequence (:func:`online_training_step`); its recorded angle and norm ratio are the means over
the batch's windows, each against :func:`history_gradient`. At recording steps the exact
gradient of the *same* sequences at the *same* parameters, by BPTT, gives
``update_angle`` and ``update_norm_ratio`` (``|estimate| / |gradient|``) for the groups
``recurrent`` (``W = [W_rec W_in b]``), ``readout`` and ``all``. ``update_norm_ratio`` is what
issue 7 calls ``norm_ratio``; the name ``norm_ratio`` is taken (``|B| / |W|`` of a feedback
matrix, :func:`bioplaus.metrics.feedback_alignment_metrics`).

Estimator statistics (``steps = 0`` and an estimator metric asked for): at the initial
parameters, one sequence of the task's test set (the seed picks which) and
``batch_size`` independent estimates of the rule on it (independent noise streams,
one batched call); rows of ``estimate_bias_angle`` / ``estimate_variance`` of the
recurrent parameters against the exact gradient, stored with ``step = m`` for
``m = 1, 2, 5, 10, 20, ...`` up to ``batch_size`` (DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import torch

from bioplaus import metrics as M
from bioplaus import models
from bioplaus.errors import BioplausError
from bioplaus.rate.recurrent import rnn_step
from bioplaus.core import Batch
from bioplaus.rules.bptt import BPTT
from bioplaus.seeding import generator
from bioplaus.train import RunResult, apply_estimate, layer_groups, make_optimizer, params_of

ESTIMATOR_CHUNK = 1000


def ms_up_to(m_max: int) -> list[int]:
    """``1, 2, 5, 10, 20, 50, ...`` up to and including ``m_max``."""
    out, decade = [], 1
    while decade <= m_max:
        out += [m for m in (decade, 2 * decade, 5 * decade) if m <= m_max]
        decade *= 10
    return out if out[-1] == m_max else out + [m_max]


def norm_ratios(estimate: dict[str, torch.Tensor], gradient: dict[str, torch.Tensor], groups: dict[str, list[str]]) -> dict[str, float]:
    """``|estimate| / |gradient|`` per group and for ``all`` (float64); groups with a zero gradient are left out."""
    out: dict[str, float] = {}
    sq = {g: (sum(float(estimate[k].double().square().sum()) for k in ks), sum(float(gradient[k].double().square().sum()) for k in ks))
          for g, ks in groups.items()}
    for g, (e2, g2) in list(sq.items()) + [("all", (sum(v[0] for v in sq.values()), sum(v[1] for v in sq.values())))]:
        if g2 > 0:
            out[g] = math.sqrt(e2 / g2)
    return out


def condition_setup(spec, task, rule):
    """The model spec and task of one condition: the protocol's, with the rule's ``model`` / ``task`` overrides."""
    from bioplaus.rate.recurrent import _check_task, recurrent_spec_from_dict

    where = f"protocol condition '{rule.label}'"
    overrides = getattr(rule, "model_overrides", {})
    if overrides:
        spec = recurrent_spec_from_dict({**spec.to_dict(), **overrides}, f"{where} (model override)", spec.name)
    task_overrides = getattr(rule, "task_overrides", {})
    if task_overrides:
        fields = {f.name for f in dataclasses.fields(task)}
        unknown = sorted(set(task_overrides) - fields)
        if unknown:
            raise BioplausError(f"{where}: task override sets unknown fields {unknown}; allowed fields are {sorted(fields)}.")
        task = dataclasses.replace(task, **task_overrides)
    problem = _check_task(spec, task)
    if problem:
        raise BioplausError(f"{where}: {problem}")
    return spec, task


def run_recurrent(protocol, condition: str, seed: int, device: str, data_dir: str | None,
                  progress: Callable[[int], None] | None) -> RunResult:
    """One (condition, seed) of a protocol on a recurrent model."""
    root = protocol.root_seed
    rule = protocol.rule(condition).fresh()
    spec, task_spec = condition_setup(protocol.model, protocol.task, rule)
    task = task_spec.instantiate(generator(root, seed, "data"), data_dir, device, protocol.batch_size)
    model = models.build(spec, generator(root, seed, "init")).to(device)
    rule.setup(model, generator(root, seed, f"rule:{rule.name}"))
    wanted = set(protocol.metrics)
    if protocol.steps == 0 and wanted & set(M.ESTIMATOR_METRICS):
        return estimator_run(model, rule, task, protocol.batch_size, seed, wanted)

    opt = make_optimizer(protocol.optimizer, model.parameters())
    groups = layer_groups(model)
    initial = {k: v.clone() for k, v in params_of(model).items()}
    result = RunResult(status="done")
    rows = result.rows

    def add(step: int, metric: str, layer: str, value: float) -> None:
        if metric in wanted and math.isfinite(value):
            rows.append((step, None, metric, layer, float(value)))

    every = getattr(rule, "update_every", None)
    for step in range(protocol.steps + 1):
        batch = task.next_batch()
        if every is not None:
            recording = step % protocol.record_every == 0 or step == protocol.steps
            with torch.no_grad():
                loss = float(batch.loss(model(batch.x)))
            if not math.isfinite(loss):
                result.status, result.diverged_step = "diverged", step
                break
            if recording:
                add(step, "loss", "all", loss)
                for k, v in task.evaluate(model).items():
                    add(step, k, "all", v)
            angles = online_training_step(model, rule, batch, every, opt if step < protocol.steps else None, groups,
                                          recording and bool(wanted & {"update_angle", "update_norm_ratio"}))
            for metric, layer, value in angles:
                add(step, metric, layer, value)
            if step < protocol.steps:
                result.steps_done = step + 1
                if progress is not None:
                    progress(step + 1)
            continue
        estimate = model.project(rule.estimate(model, batch))
        with torch.no_grad():
            loss = float(batch.loss(model(batch.x)))
        if not math.isfinite(loss):
            result.status, result.diverged_step = "diverged", step
            break
        if step % protocol.record_every == 0 or step == protocol.steps:
            add(step, "loss", "all", loss)
            for k, v in task.evaluate(model).items():
                add(step, k, "all", v)
            if wanted & {"update_angle", "update_norm_ratio"}:
                exact = model.project(BPTT().estimate(model, batch))
                for layer, theta in M.update_angles(estimate, exact, groups).items():
                    add(step, "update_angle", layer, theta)
                for layer, ratio in norm_ratios(estimate, exact, groups).items():
                    add(step, "update_norm_ratio", layer, ratio)
            if wanted & set(M.FEEDBACK_METRICS):
                for row in M.feedback_alignment_metrics(rule.feedback(), rule.feedback_targets(model)):
                    add(step, *row)
        if step < protocol.steps:
            apply_estimate(model, estimate, opt)
            rule.update_feedback(model, batch, estimate)
            result.steps_done = step + 1
            if progress is not None:
                progress(step + 1)

    result.arrays = {f"initial/{k}": v.cpu().numpy() for k, v in initial.items()}
    result.arrays.update({f"final/{k}": v.cpu().numpy() for k, v in params_of(model).items()})
    result.arrays.update(rule.arrays())
    return result


def online_training_step(model, rule, batch: Batch, every: int, opt, groups: dict[str, list[str]],
                         record: bool) -> list[tuple[str, str, float]]:
    """One batch of sequences trained online: an update after every window of ``every`` steps
    (:meth:`bioplaus.rules.online.OnlineRule.online_updates`; ``opt = None``: no updates, the final step).

    With ``record``: each window's estimate against :func:`history_gradient` (BPTT of the same window's
    loss through the parameters actually used in each earlier window), and rows of the mean over the
    batch's windows of ``update_angle`` and ``update_norm_ratio`` per group.
    """
    history: list[tuple[int, torch.Tensor]] = []
    per_window: dict[tuple[str, str], list[float]] = {}
    t0 = 0
    for estimate, window in rule.online_updates(model, batch, every):
        estimate = model.project(estimate)
        history.append((t0, model.w.detach().clone()))
        if record:
            exact = model.project(history_gradient(model, batch, history, window.x.shape[1]))
            for layer, theta in M.update_angles(estimate, exact, groups).items():
                per_window.setdefault(("update_angle", layer), []).append(theta)
            for layer, ratio in norm_ratios(estimate, exact, groups).items():
                per_window.setdefault(("update_norm_ratio", layer), []).append(ratio)
        if opt is not None:
            apply_estimate(model, estimate, opt)
            rule.update_feedback(model, window, estimate)
        t0 += window.x.shape[1]
    return [(metric, layer, sum(v) / len(v)) for (metric, layer), v in per_window.items()]


def history_gradient(model, batch: Batch, history: list[tuple[int, torch.Tensor]], length: int) -> dict[str, torch.Tensor]:
    """The exact gradient of the loss of the last window of ``history`` (``length`` steps) by BPTT through
    the parameter history: ``history[v] = (t_v, W_v)``, the window starting at step ``t_v`` ran with
    ``W_v``; the gradient with respect to ``W`` sums the paths through every ``W_v`` (the derivative
    online RTRL approximates when parameters change during a sequence). Read-out: the model's own.
    """
    x = batch.x.to(model.w.dtype)
    leaves = [w.clone().requires_grad_(True) for _, w in history]
    bounds = [t for t, _ in history[1:]] + [history[-1][0] + length]
    h = x.new_zeros((x.shape[0], model.n_hidden))
    t, outs = 0, []
    for leaf, end in zip(leaves, bounds):
        while t < end:
            h, _ = rnn_step(h, x[:, t], leaf, model.alpha, model.activation)
            if leaf is leaves[-1]:
                outs.append(h)
            t += 1
    start = history[-1][0]
    loss = batch.loss_fn(model.readout(torch.stack(outs, 1)), batch.y[:, start : start + length])
    grads = torch.autograd.grad(loss, leaves + [model.readout.weight, model.readout.bias])
    return {"recurrent.weight": torch.stack(grads[:-2]).sum(0), "readout.weight": grads[-2], "readout.bias": grads[-1]}


def estimator_run(model, rule, task, m_max: int, seed: int, wanted: set[str]) -> RunResult:
    """Bias angle and variance of ``m_max`` independent estimates on one sequence, against BPTT."""
    if not hasattr(rule, "sequence_estimates"):
        raise ValueError(f"rule {rule.name!r} gives no per-sequence estimates; estimator statistics need an online rule")
    x_all, y_all = task.test
    i = seed % x_all.shape[0]
    x, y = x_all[i : i + 1], y_all[i : i + 1]
    loss_fn = task.loss_fn
    exact = BPTT().estimate(model, Batch(x, y, loss_fn))["recurrent.weight"]
    chunks = []
    for start in range(0, m_max, ESTIMATOR_CHUNK):
        count = min(ESTIMATOR_CHUNK, m_max - start)
        per_sequence, _ = rule.sequence_estimates(model, Batch(x.expand(count, -1, -1), y.expand(count, -1, -1), loss_fn))
        chunks.append(per_sequence * count)  # the batch loss is a mean: undo its 1/count
    estimates = torch.cat(chunks)
    rows = [(m, None, metric, "recurrent", value) for m, metric, value in M.estimator_curve(estimates, exact, ms_up_to(m_max))
            if metric in wanted and math.isfinite(value)]
    return RunResult(status="done", rows=rows, steps_done=0)
