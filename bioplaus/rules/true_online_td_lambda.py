"""True online TD(lambda) (van Seijen, Mahmood, Pilarski, Machado & Sutton 2016, JMLR 17:145, Algorithm 1;
Sutton & Barto 2018, Sec. 12.5).

For a linear value ``v_hat(s) = w . x(s)``, at each step ``t``, with ``V = w . x_t``, ``V' = w . x_{t+1}``::

    delta = r_t + gamma V' - V
    z <- gamma lambda z + (1 - alpha gamma lambda z . x_t) x_t                  (the dutch trace)
    w <- w + alpha (delta + V - V_old) z - alpha (V - V_old) x_t
    V_old <- V'

Its weights at the end of each step equal those of the online lambda-return algorithm (S&B eq. 12.10)
exactly, for linear function approximation (van Seijen et al. 2016, Theorem 1); it does not blow up at
step sizes where accumulating traces do (S&B Fig. 12.8).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rules.value_learning import ValueRule, successor_features


def true_online_episode(w: Tensor, x: Tensor, x_next: Tensor, rewards: Tensor, mask: Tensor, gamma: float, lam: float,
                        alpha: float) -> tuple[Tensor, Tensor]:
    """True online TD(lambda) over one episode per learner (shapes as :func:`bioplaus.rules.td_lambda.td_lambda_episode`);
    returns ``(w_after, delta)``."""
    w = w.clone()
    z = torch.zeros_like(w)
    v_old = torch.zeros_like(rewards[:, 0])
    deltas = torch.zeros_like(rewards)
    decay = gamma * lam
    for t in range(rewards.shape[1]):
        xt, m = x[:, t], mask[:, t]
        v = (w * xt).sum(-1)
        v_next = (w * x_next[:, t]).sum(-1) * m
        delta = (rewards[:, t] + gamma * v_next - v) * m
        z = decay * z + (1 - alpha * decay * (z * xt).sum(-1, keepdim=True)) * xt
        w = w + alpha * ((delta + v - v_old) * m).unsqueeze(-1) * z - alpha * ((v - v_old) * m).unsqueeze(-1) * xt
        v_old = torch.where(m > 0, v_next, v_old)
        deltas[:, t] = delta
    return w, deltas


class TrueOnlineTDLambda(ValueRule):
    """True online TD(lambda) on the agent's linear value function. Args: ``lam`` in ``[0, 1]``; ``alpha`` as TD(lambda)'s."""

    name = "true_online_td_lambda"
    title = "true online TD(λ)"
    colour = "#2ca02c"

    def __init__(self, lam: float = 0.0, alpha: float | None = None, label: str | None = None):
        super().__init__(alpha, label)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
            raise BioplausError(f"rule 'true_online_td_lambda': lam must be a number in [0, 1], got {lam!r}.")
        self.lam = float(lam)

    def episode_update(self, w: Tensor, features: Tensor, batch: Batch, alpha: float) -> tuple[Tensor, Tensor]:
        ep = batch.episodes
        return true_online_episode(w, batch.x, successor_features(features, ep.next_states), ep.rewards, ep.mask,
                                   batch.mdp.gamma, self.lam, alpha)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lam": self.lam}
