"""A tabular (linear) agent: many independent learners, each with a linear value function and a softmax policy.

Learner ``l`` has (Sutton & Barto 2018, chs. 9 and 13)::

    v_hat_l(s) = w_l . x(s)                          value.weight  (L, d)
    pi_l(a | s) = softmax(theta_l[s])[a]             policy.weight (L, S, A)

with ``x(s)`` the environment's features (one-hot for a table). With ``behaviour = "epsilon_greedy"``
``policy.weight`` holds action values ``Q_l(s, a)`` instead of logits and the learner acts
epsilon-greedily on them (ties share the greedy mass; S&B Sec. 6.5): the agent of Q-learning and
Monte Carlo control. The learners share nothing: a
run with ``learners = 100`` is Sutton & Barto's 100 independent runs as one tensor.

The model's loss is a sum over learners, so one optimizer step of step size ``alpha`` moves each
learner's parameters as its own run would. Its ``reference_gradient`` is exact, from the
environment's model carried by the batch (:class:`bioplaus.tasks.episodic.EpisodeBatch`):

- ``value.weight``: the gradient of ``1/2 sum_s mu(s) (v_hat(s) - v_pi(s))^2`` (the mean-squared
  value error, S&B eq. 9.1), ``v_pi`` from the linear solve and ``mu`` the on-policy distribution;
- ``policy.weight``: ``-dJ/dtheta``, the exact policy gradient (ascent on ``J`` is descent on ``-J``);
  for an epsilon-greedy agent the gradient of ``1/2 sum_s mu(s) sum_a pi(a|s) (Q(s, a) - Q*(s, a))^2``,
  ``Q*`` by value iteration, ``mu`` and ``pi`` those of its behaviour.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch, TorchModel
from bioplaus.errors import BioplausError
from bioplaus.model_kind import ModelKind, check_fields
from bioplaus.rl.mdp import (epsilon_greedy_policy, on_policy_distribution, optimal_action_values, policy_gradient,
                             softmax_policy, state_values)


@dataclass(frozen=True)
class AgentSpec:
    """A tabular agent.

    Attributes:
        n_features: ``d``, the length of the environment's state features (its number of states for a table).
        n_states, n_actions: the environment's ``S`` and ``A``.
        learners: ``L``, independent learners trained side by side (one environment each).
        value_init: every entry of ``w`` at the start (S&B's random walks start at 0).
        policy_init_scale: ``theta ~ N(0, scale^2)`` at the start; 0 gives the uniform policy.
        behaviour: ``"softmax"`` (``policy.weight`` are logits) or ``"epsilon_greedy"`` (they are action values).
        epsilon: the exploration rate of ``epsilon_greedy``, in ``[0, 1]``.
    """

    name: str
    n_features: int
    n_states: int
    n_actions: int = 1
    learners: int = 1
    value_init: float = 0.0
    policy_init_scale: float = 0.0
    behaviour: str = "softmax"
    epsilon: float = 0.1
    description: str = ""
    kind: str = "agent"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "kind": (str, "a string"),
    "name": (str, "a string"),
    "description": (str, "a string"),
    "n_features": (int, "a positive integer"),
    "n_states": (int, "a positive integer"),
    "n_actions": (int, "a positive integer"),
    "learners": (int, "a positive integer"),
    "value_init": ((int, float), "a number"),
    "policy_init_scale": ((int, float), "a non-negative number"),
    "behaviour": (str, "one of 'softmax', 'epsilon_greedy'"),
    "epsilon": ((int, float), "a number in [0, 1]"),
}

BEHAVIOURS = ("softmax", "epsilon_greedy")


def agent_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> AgentSpec:
    """Validate a parsed TOML table; errors name ``source``, the field, the value and what is allowed."""
    check_fields(data, _FIELDS, source, "an agent model spec", required=("n_features", "n_states"))
    for key in ("n_features", "n_states", "n_actions", "learners"):
        if data.get(key, 1) < 1:
            raise BioplausError(f"{source}: field '{key}' must be a positive integer, got {data[key]!r}.")
    if data.get("policy_init_scale", 0.0) < 0:
        raise BioplausError(f"{source}: field 'policy_init_scale' must be a non-negative number, got {data['policy_init_scale']!r}.")
    if data.get("behaviour", "softmax") not in BEHAVIOURS:
        raise BioplausError(f"{source}: field 'behaviour' is {data['behaviour']!r}; allowed values are 'softmax', 'epsilon_greedy'.")
    if not 0.0 <= data.get("epsilon", 0.1) <= 1.0:
        raise BioplausError(f"{source}: field 'epsilon' must be a number in [0, 1], got {data['epsilon']!r}.")
    return AgentSpec(name=data.get("name", default_name), n_features=data["n_features"], n_states=data["n_states"],
                     n_actions=data.get("n_actions", 1), learners=data.get("learners", 1),
                     value_init=float(data.get("value_init", 0.0)), policy_init_scale=float(data.get("policy_init_scale", 0.0)),
                     behaviour=data.get("behaviour", "softmax"), epsilon=float(data.get("epsilon", 0.1)),
                     description=data.get("description", ""))


class TabularAgent(TorchModel):
    """``L`` learners' value weights ``(L, d)`` and policy logits ``(L, S, A)`` (float64); ``forward(x)`` gives
    the values ``w_l . x`` of features ``x`` ``(L, T, d)`` as ``(L, T)``."""

    capabilities = frozenset({"torch", "value_function", "policy"})
    greedy_capabilities = frozenset({"torch", "value_function", "action_values"})

    def __init__(self, spec: AgentSpec, generator: torch.Generator | None = None):
        super().__init__()
        self.spec = spec
        f64 = torch.float64
        self.value = nn.Linear(spec.n_features, spec.learners, bias=False, dtype=f64)  # weight (L, d)
        nn.init.constant_(self.value.weight, spec.value_init)
        logits = torch.randn(spec.learners, spec.n_states, spec.n_actions, generator=generator, dtype=f64) * spec.policy_init_scale
        self.policy = nn.Module()
        self.policy.weight = nn.Parameter(logits)

    @property
    def learners(self) -> int:
        return self.spec.learners

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("ltd,ld->lt", x, self.value.weight)

    def probabilities(self) -> Tensor:
        """Each learner's (behaviour) policy ``pi_l(a|s)``, ``(L, S, A)``, without gradients."""
        if self.spec.behaviour == "epsilon_greedy":
            return epsilon_greedy_policy(self.policy.weight.detach(), self.spec.epsilon)
        return softmax_policy(self.policy.weight.detach())

    def values(self, features: Tensor) -> Tensor:
        """Each learner's ``v_hat_l(s)`` for features ``(S, d)``, ``(L, S)``, without gradients."""
        return self.value.weight.detach() @ features.t()

    def reference_gradient(self, batch: Batch) -> dict[str, Tensor]:
        mdp = batch.mdp
        pi = self.probabilities()
        err = self.values(mdp.features) - state_values(mdp, pi)  # (L, S)
        mu = on_policy_distribution(mdp, pi)  # (L, S)
        value_grad = (mu * err) @ mdp.features  # (L, d)
        if self.spec.behaviour == "epsilon_greedy":
            q_err = self.policy.weight.detach() - optimal_action_values(mdp)
            return {"value.weight": value_grad, "policy.weight": mu.unsqueeze(-1) * pi * q_err}
        return {"value.weight": value_grad, "policy.weight": -policy_gradient(mdp, self.policy.weight.detach())}


def _check_task(spec: AgentSpec, task: Any) -> str | None:
    mdp = getattr(task, "mdp", None)
    if mdp is None:
        return (f"model '{spec.name}' (kind 'agent') needs an environment task (bioplaus.tasks.Episodic), got task "
                f"{getattr(task, 'name', task)!r}.")
    m = mdp()
    for field, have in (("n_features", m.n_features), ("n_states", m.n_states), ("n_actions", m.n_actions)):
        if getattr(spec, field) != have:
            return (f"model '{spec.name}' has {field} = {getattr(spec, field)} but environment {m.name!r} has {have}; "
                    f"set the model's {field} to {have}.")
    return None


KIND = ModelKind(
    name="agent",
    spec_type=AgentSpec,
    from_dict=agent_spec_from_dict,
    build=lambda spec, generator: TabularAgent(spec, generator),
    check_task=_check_task,
    capabilities=lambda spec: TabularAgent.greedy_capabilities if spec.behaviour == "epsilon_greedy" else TabularAgent.capabilities,
)
