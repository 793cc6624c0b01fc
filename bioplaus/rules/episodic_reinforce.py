"""REINFORCE for an agent's softmax policy, with or without a baseline (Williams 1992; Sutton & Barto 2018, Secs. 13.3-13.4).

Per episode (one per learner), with ``G_t`` the discounted return from step ``t``::

    theta <- theta + alpha sum_t gamma^t (G_t - b(s_t)) d log pi(a_t|s_t) / d theta
    w     <- w + alpha_w sum_t (G_t - v_hat(s_t)) x(s_t)             (the learned baseline's Monte Carlo regression)

Its mean is the exact ``dJ/dtheta`` of the policy gradient theorem with the discounted state
visitation (:func:`bioplaus.rl.mdp.policy_gradient`) *only with* the ``gamma^t`` factor; without it
(``discount_weighting = False``, what most implementations do) it is biased whenever ``gamma < 1``
(Nota & Thomas 2020). A baseline that depends on the state only leaves the mean unchanged,
because ``E_a[d log pi(a|s) / d theta] = 0``, and changes the variance. Baselines: ``none``,
``learned`` (the agent's ``v_hat``), ``exact`` (``v_pi`` from the linear solve: an oracle for tests
and comparisons). Updates are made at the episode's end (as S&B's algorithm does, with ``theta``
fixed during the episode), so the estimate is the gradient-unit step itself.

Control (``shuffle_returns = True``): each learner's ``G_t`` are those of the next learner's episode (learners rolled by
one). Its actions and those returns are independent, and ``E[d log pi(a_t|s_t) / d theta | s_t] = 0``, so the mean
estimate is exactly 0: an estimator that learns nothing about ``J``, whose mean over many episodes is noise at a
random angle to ``dJ/dtheta`` instead of falling towards 0 degrees.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rl.mdp import state_values
from bioplaus.rules.policy_gradient import PolicyGradientRule, discount_powers, score_sum

BASELINES = ("none", "learned", "exact")


class EpisodicReinforce(PolicyGradientRule):
    """REINFORCE on a tabular softmax policy. Args: ``baseline``: one of ``BASELINES``; ``discount_weighting``: the
    ``gamma^t`` factor (``True``: unbiased); ``critic_scale``: the learned baseline's step size relative to the policy's;
    ``shuffle_returns``: the control of the module docstring (each learner reads another learner's returns).

    (Named ``episodic_reinforce`` beside ``reinforce``, the estimator for stochastic binary units: one idea, two models.)"""

    name = "episodic_reinforce"
    title = "REINFORCE"
    colour = "#d62728"

    def __init__(self, baseline: str = "none", discount_weighting: bool = True, critic_scale: float = 1.0,
                 shuffle_returns: bool = False, label: str | None = None):
        super().__init__(label)
        if baseline not in BASELINES:
            raise BioplausError(f"rule 'episodic_reinforce': baseline is {baseline!r}; allowed values are {allowed(BASELINES)}.")
        if isinstance(critic_scale, bool) or not isinstance(critic_scale, (int, float)) or critic_scale < 0:
            raise BioplausError(f"rule 'episodic_reinforce': critic_scale must be a non-negative number, got {critic_scale!r}.")
        self.baseline, self.discount_weighting, self.critic_scale = baseline, bool(discount_weighting), float(critic_scale)
        self.shuffle_returns = bool(shuffle_returns)

    def baseline_values(self, model: nn.Module, batch: Batch) -> Tensor:
        """``b(s_t)`` ``(L, T)``."""
        ep = batch.episodes
        if self.baseline == "none":
            return torch.zeros_like(ep.rewards)
        if self.baseline == "learned":
            return model(batch.x).detach()
        v = state_values(batch.mdp, model.probabilities())  # (L, S)
        return torch.gather(v, 1, ep.states) * ep.mask

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        ep, returns = batch.episodes, batch.y
        if self.shuffle_returns:
            returns = returns.roll(1, dims=0) * ep.mask
        weight = discount_powers(ep.mask, batch.mdp.gamma) if self.discount_weighting else ep.mask
        coef = weight * (returns - self.baseline_values(model, batch))
        out = {"policy.weight": -score_sum(coef, model.probabilities(), ep.states, ep.actions),
               "value.weight": torch.zeros_like(model.value.weight)}
        if self.baseline == "learned":
            errors = (returns - model(batch.x).detach()) * ep.mask
            out["value.weight"] = -self.critic_scale * torch.einsum("lt,ltd->ld", errors, batch.x)
        return out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "baseline": self.baseline, "discount_weighting": self.discount_weighting,
                "critic_scale": self.critic_scale, "shuffle_returns": self.shuffle_returns}
