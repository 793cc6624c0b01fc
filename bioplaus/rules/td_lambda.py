"""TD(lambda) with accumulating, replacing or dutch eligibility traces (Sutton 1988; Sutton & Barto 2018, ch. 12).

For a linear value ``v_hat(s) = w . x(s)``, at each step ``t`` of an episode (S&B eqs. 12.5-12.7, 12.11)::

    delta_t = r_t + gamma v_hat(s_{t+1}) - v_hat(s_t)          the TD error (v_hat(terminal) = 0)
    z_t = gamma lambda z_{t-1} + x_t                          accumulating trace
    z_t = x_t where x_t != 0, else gamma lambda z_{t-1}       replacing trace (binary features; Singh & Sutton 1996)
    z_t = gamma lambda z_{t-1} + (1 - alpha gamma lambda z_{t-1} . x_t) x_t     dutch trace (van Seijen et al. 2016)
    w <- w + alpha delta_t z_t                                online: at every step
    Delta w = alpha sum_t delta_t z_t                         offline: w fixed until the episode's end

``lambda = 0`` is TD(0); ``lambda = 1`` with offline updates is Monte Carlo (every-visit with accumulating
traces, first-visit with replacing ones, Singh & Sutton 1996). Batched over learners: ``w`` is ``(L, d)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rules.value_learning import ValueRule, successor_features

TRACES = ("accumulating", "replacing", "dutch")


def td_lambda_episode(w: Tensor, x: Tensor, x_next: Tensor, rewards: Tensor, mask: Tensor, gamma: float, lam: float,
                      alpha: float, trace: str = "accumulating", online: bool = True) -> tuple[Tensor, Tensor]:
    """TD(lambda) over one episode per learner: ``w`` ``(L, d)``; features ``x``, ``x_next`` ``(L, T, d)`` (zero on
    padding and at the terminal state); ``rewards``, ``mask`` ``(L, T)``. Returns ``(w_after, delta)`` with the TD
    errors ``delta`` ``(L, T)`` (computed with the weights current at each step)."""
    w = w.clone()
    z = torch.zeros_like(w)
    total = torch.zeros_like(w)
    deltas = torch.zeros_like(rewards)
    decay = gamma * lam
    for t in range(rewards.shape[1]):
        xt = x[:, t]
        delta = (rewards[:, t] + gamma * (w * x_next[:, t]).sum(-1) - (w * xt).sum(-1)) * mask[:, t]
        if trace == "accumulating":
            z = decay * z + xt
        elif trace == "replacing":
            z = torch.where(xt != 0, xt, decay * z)
        else:
            z = decay * z + (1 - alpha * decay * (z * xt).sum(-1, keepdim=True)) * xt
        step = alpha * delta.unsqueeze(-1) * z
        if online:
            w = w + step
        else:
            total = total + step
        deltas[:, t] = delta
    return (w if online else w + total), deltas


class TDLambda(ValueRule):
    """TD(lambda) on the agent's linear value function, with accumulating, replacing or dutch traces.

    Args: ``lam``: the trace decay ``lambda`` in ``[0, 1]``; ``trace``: one of ``TRACES``; ``alpha``: the step
    size within episodes (``None``: the run's SGD lr); ``online``: update at every step (``False``: at the
    episode's end, the offline algorithm)."""

    name = "td_lambda"
    title = "TD(λ)"
    colour = "#1f77b4"

    def __init__(self, lam: float = 0.0, trace: str = "accumulating", alpha: float | None = None, online: bool = True,
                 label: str | None = None):
        super().__init__(alpha, label)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
            raise BioplausError(f"rule 'td_lambda': lam (the trace decay lambda) must be a number in [0, 1], got {lam!r}.")
        if trace not in TRACES:
            raise BioplausError(f"rule 'td_lambda': trace is {trace!r}; allowed values are {allowed(TRACES)}.")
        self.lam, self.trace, self.online = float(lam), trace, bool(online)

    def episode_update(self, w: Tensor, features: Tensor, batch: Batch, alpha: float) -> tuple[Tensor, Tensor]:
        ep = batch.episodes
        return td_lambda_episode(w, batch.x, successor_features(features, ep.next_states), ep.rewards, ep.mask,
                                 batch.mdp.gamma, self.lam, alpha, self.trace, self.online)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lam": self.lam, "trace": self.trace, "online": self.online}


def td_lambda_transition(w: Tensor, z: Tensor, x: Tensor, x_next: Tensor, rewards: Tensor, terminal: Tensor, gamma: float,
                         lam: float, alpha: float) -> tuple[Tensor, Tensor, Tensor]:
    """One online step of accumulating TD(lambda) for a stream of transitions with auto-reset (one per learner):
    ``w``, ``z``, ``x``, ``x_next`` ``(L, d)`` (``x_next`` zero where the episode ended), ``rewards``, ``terminal``
    ``(L,)``. Returns ``(w, z, delta)``; the trace is cleared where an episode ended, for the next one. In place."""
    delta = rewards + gamma * (w * x_next).sum(-1) - (w * x).sum(-1)
    z.mul_(gamma * lam).add_(x)
    w.addcmul_(z, delta.unsqueeze(-1), value=alpha)
    z.mul_((~terminal).unsqueeze(-1).to(z.dtype))
    return w, z, delta
