"""Metrics as probes: what the run loop records at a recording step, registered by name.

A probe is a pure function of an :class:`Observation` (the rule's estimate, the exact
gradient on the same batch, what the rule and the model reported, and lazily computed
views of the model) that returns ``(metric, layer, value)`` rows. The loop calls each
probe whose metrics a protocol asks for, in registration order, and keeps the rows of
the asked-for metrics whose values are finite. A new metric is one :func:`probe` here;
a new rule or model never touches the loop or this module. This module imports no rule
and no model.

Metrics measured once at the initial weights rather than at recording steps (estimator
statistics, EP/BPTT matching) are :data:`INITIAL_METRICS`; the loop computes them before
training.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from bioplaus.metrics.alignment import feedback_alignment_metrics
from bioplaus.metrics.angles import angle_deg, grouped_angles
from bioplaus.metrics.learned_weights import learned_weight_metrics
from bioplaus.metrics.representation import linear_cka
from bioplaus.metrics.target_alignment import target_alignment

ProbeRow = tuple[str, str, float]


@dataclass
class Observation:
    """What probes see at one recording step of one run.

    ``estimate``: the rule's estimate in gradient units (after the model's ``project``);
    ``reference``: the model's exact gradient on the same batch (``None`` when no probe asked
    for it, or when the model reported that it is not trustworthy, e.g. an energy net whose
    free phase did not converge); ``groups``: layer -> parameter names; ``aux``: values the
    loop or the rule computed on the way (``update_angle`` from per-layer deltas,
    ``model_state`` the model's own report such as ``relaxation_log``); the callables give
    the evaluation metrics, the rule's feedback weights with what they stand in for, the
    weights of the run and of its lockstep backprop reference, and hidden representations.
    """

    loss: float
    estimate: dict[str, Tensor] | None
    reference: dict[str, Tensor] | None
    groups: dict[str, list[str]]
    aux: dict[str, Any] = field(default_factory=dict)
    evaluate: Callable[[], dict[str, float]] | None = None
    feedback: Callable[[], tuple[dict[str, Tensor], dict[str, Tensor]]] | None = None
    weights: Callable[[], tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor]]] | None = None
    hidden: Callable[[], tuple[dict[str, Tensor], dict[str, Tensor]]] | None = None


@dataclass(frozen=True)
class Probe:
    """A function of an :class:`Observation` and the metric names its rows carry.

    ``needs_reference``: the loop forms the exact gradient for it; ``needs_lockstep``: the loop
    trains a backprop reference network from the same initial weights on the same batches;
    ``after_update``: the loop also calls it after the recording step's update, with
    ``aux["step_outputs"] = (outputs before, outputs after, targets)`` on that batch.
    """

    name: str
    metrics: tuple[str, ...]
    fn: Callable[[Observation], Iterable[ProbeRow]]
    needs_reference: bool = False
    needs_lockstep: bool = False
    after_update: bool = False


PROBES: dict[str, Probe] = {}


def probe(name: str, metrics: tuple[str, ...], needs_reference: bool = False, needs_lockstep: bool = False,
          after_update: bool = False):
    """Register ``fn(observation) -> rows`` as the probe ``name`` that records ``metrics``."""

    def register(fn: Callable[[Observation], Iterable[ProbeRow]]) -> Callable[[Observation], Iterable[ProbeRow]]:
        PROBES[name] = Probe(name, metrics, fn, needs_reference, needs_lockstep, after_update)
        return fn

    return register


def probes_for(wanted: set[str]) -> list[Probe]:
    """The probes that record any of ``wanted``, in registration order."""
    return [p for p in PROBES.values() if wanted & set(p.metrics)]


def observe(observation: Observation, probes: list[Probe], wanted: set[str]) -> list[ProbeRow]:
    """Every wanted, finite row of ``probes`` on ``observation`` (a non-finite value is not a measurement)."""
    rows = []
    for p in probes:
        for metric, layer, value in p.fn(observation):
            if metric in wanted and math.isfinite(value):
                rows.append((metric, layer, float(value)))
    return rows


@probe("loss", ("loss",))
def _loss(obs: Observation) -> list[ProbeRow]:
    return [("loss", "all", obs.loss)]


@probe("evaluation", ("test_loss", "test_accuracy", "train_accuracy", "firing_probability", "loss_gap"))
def _evaluation(obs: Observation) -> list[ProbeRow]:
    return [(k, "all", v) for k, v in obs.evaluate().items()]


@probe("update_angle", ("update_angle",), needs_reference=True)
def _update_angle(obs: Observation) -> list[ProbeRow]:
    """The angle between the estimate and the exact gradient, per layer and ``all`` (DESIGN.md)."""
    if "update_angle" in obs.aux:  # from per-layer deltas, on the forward pass the rule used
        angles = obs.aux["update_angle"]
    elif obs.reference is not None:
        angles = grouped_angles(obs.estimate, obs.reference, obs.groups)
    else:
        angles = {}
    return [("update_angle", layer, theta) for layer, theta in (angles or {}).items()]


def norm_ratios(estimate: dict[str, Tensor], gradient: dict[str, Tensor], groups: dict[str, list[str]]) -> dict[str, float]:
    """``|estimate| / |gradient|`` per group and for ``all`` (float64); groups with a zero gradient are left out."""
    out: dict[str, float] = {}
    sq = {g: (sum(float(estimate[k].double().square().sum()) for k in ks), sum(float(gradient[k].double().square().sum()) for k in ks))
          for g, ks in groups.items()}
    for g, (e2, g2) in list(sq.items()) + [("all", (sum(v[0] for v in sq.values()), sum(v[1] for v in sq.values())))]:
        if g2 > 0:
            out[g] = math.sqrt(e2 / g2)
    return out


@probe("agent_evaluation", ("value_error", "value_rms", "expected_return"))
def _agent_evaluation(obs: Observation) -> list[ProbeRow]:
    """An agent's exact value error against v_pi and expected return J (:mod:`bioplaus.tasks.episodic`)."""
    return [(k, "all", v) for k, v in obs.evaluate().items() if k in ("value_error", "value_rms", "expected_return")]


@probe("credit_error", ("credit_error",))
def _credit_error(obs: Observation) -> list[ProbeRow]:
    """RUDDER's redistributed reward against the exact advantage A_pi(s_t, a_t), RMS over steps t >= 1 (:mod:`bioplaus.rules.rudder`)."""
    value = obs.aux.get("rule", {}).get("credit_error")
    return [] if value is None else [("credit_error", "all", value)]


@probe("dopamine", ("td_error", "td_error_omitted"))
def _dopamine(obs: Observation) -> list[ProbeRow]:
    """The TD error an agent expects in each state (layer ``sSSS``; the time step of a conditioning trial), with the
    reward given and omitted: the model of phasic dopamine (Schultz, Dayan & Montague 1997)."""
    rows = []
    for key, value in obs.evaluate().items():
        metric, _, state = key.partition("@")
        if metric in ("td_error", "td_error_omitted") and state:
            rows.append((metric, f"s{state}", value))
    return rows


@probe("update_norm_ratio", ("update_norm_ratio",), needs_reference=True)
def _update_norm_ratio(obs: Observation) -> list[ProbeRow]:
    """``|estimate| / |gradient|``: whether a rule's step is the gradient's size (``norm_ratio`` is ``|B| / |W|``)."""
    if obs.reference is None:
        return []
    return [("update_norm_ratio", layer, r) for layer, r in norm_ratios(obs.estimate, obs.reference, obs.groups).items()]


@probe("feedback_alignment", ("weight_angle", "norm_ratio", "sign_concordance"))
def _feedback(obs: Observation) -> list[ProbeRow]:
    return feedback_alignment_metrics(*obs.feedback())


@probe("learned_weights", ("weight_change_angle", "weight_distance"), needs_lockstep=True)
def _learned_weights(obs: Observation) -> list[ProbeRow]:
    initial, mine, reference = obs.weights()
    return learned_weight_metrics(initial, mine, reference, obs.groups)


@probe("representation_cka", ("representation_cka",), needs_lockstep=True)
def _representation_cka(obs: Observation) -> list[ProbeRow]:
    if obs.hidden is None:
        return []
    mine, theirs = obs.hidden()
    return [("representation_cka", layer, v) for layer in mine if (v := linear_cka(mine[layer], theirs[layer])) is not None]


@probe("relax_steps", ("relax_steps",))
def _relax_steps(obs: Observation) -> list[ProbeRow]:
    """Relaxation steps each phase of an energy net used on the batch (layer = phase)."""
    log = obs.aux.get("model_state", {}).get("relaxation_log", {})
    return [("relax_steps", phase, float(n)) for phase, n in sorted(log.items())]


@probe("estimator_spread", ("estimate_log_variance", "estimate_bias_z"), needs_reference=True)
def _estimator_spread(obs: Observation) -> list[ProbeRow]:
    """The rule's estimator at the current parameters, from ``K`` fresh draws on the recorded batch (the rule's
    ``probe_values()["estimate_draws"]``, a callable returning ``{name: (K, *shape)}``), against the exact gradient
    ``g``: ``estimate_log_variance`` = ``ln tr Cov`` (natural log; the sum over parameters of the draws' variances)
    and ``estimate_bias_z`` = ``(mean - g) . u / s.e.``, the mean's error along ``u = g / |g|`` in standard
    errors (about N(0, 1) for an unbiased estimator; for one parameter it is the whole bias)."""
    draws_of = obs.aux.get("rule", {}).get("estimate_draws")
    if draws_of is None or obs.reference is None:
        return []
    names = list(obs.reference)
    draws = draws_of()
    x = torch.cat([draws[k].reshape(draws[k].shape[0], -1) for k in names], 1).double()
    g = torch.cat([obs.reference[k].reshape(-1) for k in names]).double().to(x.device)
    rows = [("estimate_log_variance", "all", math.log(float(x.var(0).sum())))] if float(x.var(0).sum()) > 0 else []
    if float(g.norm()) > 0:
        along = x @ (g / g.norm())
        se = float(along.std()) / along.shape[0] ** 0.5
        if se > 0:
            rows.append(("estimate_bias_z", "all", (float(along.mean()) - float(g.norm())) / se))
    return rows


@probe("target_angle", ("target_angle", "reconstruction_error"))
def _target_angle(obs: Observation) -> list[ProbeRow]:
    """Target propagation (Bartunov et al. 2018): per layer, the angle between the target difference
    ``hhat_l - h_l`` and ``-dloss/dh_l`` on the batch (``target_angle``, degrees; ``all``: the layers
    together), and the inverse's relative reconstruction error ``|g_l(f_l(h_{l-1})) - h_{l-1}|^2 / |h_{l-1}|^2``
    (``reconstruction_error``, under the layer the inverse inverts), from the rule's ``probe_values``."""
    values = obs.aux.get("rule", {})
    diff, neg = values.get("target_difference", {}), values.get("negative_gradient", {})
    rows = [("target_angle", layer, theta) for layer in diff if (theta := angle_deg(diff[layer], neg[layer])) is not None]
    if diff and (theta := angle_deg(list(diff.values()), [neg[k] for k in diff])) is not None:
        rows.append(("target_angle", "all", theta))
    rows += [("reconstruction_error", layer, e) for layer, e in values.get("reconstruction_error", {}).items()]
    return rows


@probe("target_alignment", ("target_alignment",), after_update=True)
def _target_alignment(obs: Observation) -> list[ProbeRow]:
    """Song et al. 2024: ``cos(o_after - o_before, y - o_before)`` of the recording step's update on its batch
    (regression targets, shaped like the output)."""
    if "step_outputs" not in obs.aux:
        return []
    before, after, target = obs.aux["step_outputs"]
    if target.shape != before.shape:
        return []
    value = target_alignment(before, after, target)
    return [] if value is None else [("target_alignment", "all", value)]


#: measured once, at the initial weights, before training (``step`` = m, or t for the matching)
INITIAL_METRICS = ("estimate_bias_angle", "estimate_variance", "gdu_angle", "gdu_rel_error")


def inapplicable(metric: str, capabilities: frozenset[str], rule: Any, task: Any) -> str | None:
    """Why ``metric`` cannot be recorded for a run of ``rule`` on a model with ``capabilities`` and ``task``
    (``None`` when it can). Brian2 models record what their task's simulation gives, and are not checked here."""
    if "spiking:brian2" in capabilities:
        return None
    if metric not in {m for p in PROBES.values() for m in p.metrics} | set(INITIAL_METRICS):
        return "it is recorded by spiking (Brian2) simulations only"
    if metric in ("test_loss", "test_accuracy", "train_accuracy", "firing_probability", "loss_gap") \
            and metric not in getattr(task, "metrics", (metric,)):
        return f"task {getattr(task, 'name', task)!r} does not evaluate it (it evaluates {', '.join(getattr(task, 'metrics', ()))})"
    if metric in ("weight_angle", "norm_ratio", "sign_concordance") and type(rule).feedback is _base_feedback(rule):
        return f"rule {rule.name!r} has no feedback weights"
    if metric == "representation_cka" and "layered" not in capabilities:
        return "the model has no hidden layers to compare (a layered feedforward net has)"
    if metric == "relax_steps" and "energy" not in capabilities:
        return "the model does not relax (an energy net does)"
    if metric in ("estimate_log_variance", "estimate_bias_z") and not getattr(rule, "variance_draws", 0):
        return f"rule {rule.name!r} draws no fresh estimates at recording steps (it has no variance_draws > 1)"
    if metric in ("estimate_bias_angle", "estimate_variance") and not (
            getattr(rule, "estimator_samples", 0) >= 2 or hasattr(rule, "sequence_estimates")
            or metric in getattr(rule, "initial_metrics", ())):
        return f"rule {rule.name!r} is not a stochastic estimator (no estimator_samples, no per-sequence estimates)"
    return None


def _base_feedback(rule: Any) -> Any:
    """The ``feedback`` method of the base class of all rules (a rule that does not override it has no feedback weights)."""
    for cls in type(rule).__mro__:
        if cls.__name__ == "Rule" and "feedback" in vars(cls):
            return vars(cls)["feedback"]
    return None
