"""The off-line lambda-return algorithm (Sutton & Barto 2018, Sec. 12.1, eq. 12.4; Fig. 12.3).

Nothing changes during the episode; at its end the lambda-returns, computed with the weights ``w_0`` of the
episode, are the targets of ``T`` updates made one after the other (eq. 12.4)::

    w_{t+1} = w_t + alpha (G^lambda_t - w_t . x_t) x_t,   t = 0 .. T - 1
    G^lambda_t = r_t + gamma [(1 - lambda) w_0 . x_{t+1} + lambda G^lambda_{t+1}]     (eq. 12.3, recursively)

With ``sequential = False`` every update uses ``w_0`` (``Delta w = alpha sum_t (G^lambda_t - w_0 . x_t) x_t``),
which equals accumulating TD(lambda) with off-line updates (S&B Sec. 12.2; the forward and backward views,
Sutton 1988): ``sum_t (G^lambda_t - v_hat(s_t)) x_t = sum_t delta_t z_t``. The sequential form is the book's:
for a table, a state visited k times moves towards its targets like a running average and does not overshoot
at ``alpha <= 1``, while the summed form moves k times ``alpha`` and blows up on the walk at ``alpha`` near 0.4.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rl.returns import lambda_returns
from bioplaus.rules.value_learning import ValueRule, successor_features


def lambda_return_update(w: Tensor, x: Tensor, x_next: Tensor, rewards: Tensor, terminal: Tensor, mask: Tensor,
                         gamma: float, lam: float, alpha: float, sequential: bool = True) -> tuple[Tensor, Tensor]:
    """``(w_T, G^lambda - w_0 . x)``: the off-line lambda-return update of ``w`` ``(L, d)`` (shapes as TD(lambda)'s)."""
    v = (x * w.unsqueeze(1)).sum(-1)
    v_next = (x_next * w.unsqueeze(1)).sum(-1)
    targets = lambda_returns(rewards, v_next, terminal, gamma, lam)
    errors = (targets - v) * mask
    if not sequential:
        return w + alpha * (errors.unsqueeze(-1) * x).sum(1), errors
    w = w.clone()
    for t in range(x.shape[1]):
        w = w + alpha * ((targets[:, t] - (w * x[:, t]).sum(-1)) * mask[:, t]).unsqueeze(-1) * x[:, t]
    return w, errors


class LambdaReturn(ValueRule):
    """The off-line lambda-return algorithm. Args: ``lam`` in ``[0, 1]``; ``alpha`` as TD(lambda)'s; ``sequential``
    (eq. 12.4, default) or summed with ``w_0``. Its
    ``td_error`` probe values are the lambda-return errors ``G^lambda_t - v_hat(s_t)``."""

    name = "lambda_return"
    title = "off-line λ-return"
    colour = "#9467bd"

    def __init__(self, lam: float = 0.0, alpha: float | None = None, sequential: bool = True, label: str | None = None):
        super().__init__(alpha, label)
        self.sequential = bool(sequential)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
            raise BioplausError(f"rule 'lambda_return': lam must be a number in [0, 1], got {lam!r}.")
        self.lam = float(lam)

    def episode_update(self, w: Tensor, features: Tensor, batch: Batch, alpha: float) -> tuple[Tensor, Tensor]:
        ep = batch.episodes
        return lambda_return_update(w, batch.x, successor_features(features, ep.next_states), ep.rewards, ep.terminal,
                                    ep.mask, batch.mdp.gamma, self.lam, alpha, self.sequential)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lam": self.lam, "sequential": self.sequential}
