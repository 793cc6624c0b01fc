"""The off-line lambda-return algorithm (Sutton & Barto 2018, Sec. 12.1, eq. 12.4; Fig. 12.3).

With ``w`` fixed during the episode, at its end::

    Delta w = alpha sum_t (G^lambda_t - v_hat(s_t)) x_t,
    G^lambda_t = r_t + gamma [(1 - lambda) v_hat(s_{t+1}) + lambda G^lambda_{t+1}]     (eq. 12.3, recursively)

Off-line, this equals accumulating TD(lambda) with off-line updates (S&B Sec. 12.2; the forward and
backward views, Sutton 1988): ``sum_t (G^lambda_t - v_hat(s_t)) x_t = sum_t delta_t z_t``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rl.returns import lambda_returns
from bioplaus.rules.value_learning import ValueRule, successor_features


def lambda_return_update(w: Tensor, x: Tensor, x_next: Tensor, rewards: Tensor, terminal: Tensor, mask: Tensor,
                         gamma: float, lam: float, alpha: float) -> tuple[Tensor, Tensor]:
    """``(w + Delta w, G^lambda - v_hat)``: the off-line lambda-return update of ``w`` ``(L, d)`` (shapes as TD(lambda)'s)."""
    v = (x * w.unsqueeze(1)).sum(-1)
    v_next = (x_next * w.unsqueeze(1)).sum(-1)
    errors = (lambda_returns(rewards, v_next, terminal, gamma, lam) - v) * mask
    return w + alpha * (errors.unsqueeze(-1) * x).sum(1), errors


class LambdaReturn(ValueRule):
    """The off-line lambda-return algorithm. Args: ``lam`` in ``[0, 1]``; ``alpha`` as TD(lambda)'s. Its
    ``td_error`` probe values are the lambda-return errors ``G^lambda_t - v_hat(s_t)``."""

    name = "lambda_return"
    title = "off-line λ-return"
    colour = "#9467bd"

    def __init__(self, lam: float = 0.0, alpha: float | None = None, label: str | None = None):
        super().__init__(alpha, label)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
            raise BioplausError(f"rule 'lambda_return': lam must be a number in [0, 1], got {lam!r}.")
        self.lam = float(lam)

    def episode_update(self, w: Tensor, features: Tensor, batch: Batch, alpha: float) -> tuple[Tensor, Tensor]:
        ep = batch.episodes
        return lambda_return_update(w, batch.x, successor_features(features, ep.next_states), ep.rewards, ep.terminal,
                                    ep.mask, batch.mdp.gamma, self.lam, alpha)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lam": self.lam}
