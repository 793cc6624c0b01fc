"""What the policy-gradient rules share: the score of a tabular softmax policy, backward sums over an episode, and
the estimator statistics against the exact policy gradient measured across learners.

For ``pi(a|s) = softmax(theta[s])[a]`` the score is ``d log pi(a_t|s_t) / d theta[s, b] = [s = s_t] ([b = a_t] - pi(b|s_t))``
(Sutton & Barto 2018, eq. 13.9 for one-hot state-action features). A policy-gradient estimate is
``sum_t c_t score_t`` with a per-step coefficient ``c_t`` (REINFORCE: ``gamma^t (G_t - b(s_t))``); it is
returned in gradient units of the loss ``-J``, i.e. negated.

**Estimator statistics.** All learners of an agent start from the same parameters when
``policy_init_scale = 0``; then the estimates of one batch (one episode per learner) are ``L``
independent draws of the same estimator, and ``estimate_bias_angle`` / ``estimate_variance``
against the exact ``-dJ/dtheta`` are recorded before training with ``step = m`` for
``m = 1, 2, 5, ... , L`` (the convention of :mod:`bioplaus.metrics.estimator`), layer ``policy``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.metrics.estimator import estimator_curve
from bioplaus.rules.base import Rule

#: metrics these rules give before training (the loop's ``initial_rows`` hook)
POLICY_ESTIMATOR_METRICS = ("estimate_bias_angle", "estimate_variance")


def score_sum(coefficients: Tensor, policy: Tensor, states: Tensor, actions: Tensor) -> Tensor:
    """``sum_t c_t d log pi(a_t|s_t) / d theta`` per learner: ``c`` ``(L, T)`` (zero on padding), ``policy`` ``(L, S, A)``,
    ``states``, ``actions`` ``(L, T)``; returns ``(L, S, A)``."""
    n_states, n_actions = policy.shape[-2:]
    rows = torch.arange(policy.shape[0]).unsqueeze(1)
    diff = torch.nn.functional.one_hot(actions, n_actions).to(policy.dtype) - policy[rows, states]  # (L, T, A)
    onehot_s = torch.nn.functional.one_hot(states, n_states).to(policy.dtype)  # (L, T, S)
    return torch.einsum("lt,lts,lta->lsa", coefficients, onehot_s, diff)


def discount_powers(mask: Tensor, gamma: float) -> Tensor:
    """``gamma^t`` ``(L, T)``, zero on padding."""
    return gamma ** torch.arange(mask.shape[1], dtype=mask.dtype).expand_as(mask) * mask


class PolicyGradientRule(Rule):
    """Base of the rules that estimate the policy gradient of an agent: subclasses give :meth:`estimate`; this gives
    the per-learner estimator statistics before training (see the module docstring)."""

    requires = frozenset({"torch", "policy", "value_function"})
    initial_metrics = POLICY_ESTIMATOR_METRICS

    def initial_rows(self, model: nn.Module, batch: Batch, wanted: set[str]) -> list[tuple[int, str, str, float]]:
        logits = model.policy.weight.detach()
        if not torch.equal(logits, logits[:1].expand_as(logits)):
            raise BioplausError(f"rule {self.name!r}: estimator statistics across learners need learners with one policy; "
                                "set the agent's policy_init_scale = 0 (all learners start uniform).")
        estimates = self.estimate(model, batch)["policy.weight"]  # (L, S, A): L independent draws
        exact = model.reference_gradient(batch)["policy.weight"][0]
        n = estimates.shape[0]
        ms = sorted({m for k in range(8) for m in (10**k, 2 * 10**k, 5 * 10**k) if m <= n} | {n})
        return [(m, metric, "policy", value) for m, metric, value in estimator_curve(estimates, exact, ms) if metric in wanted]
