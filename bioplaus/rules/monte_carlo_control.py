"""On-policy Monte Carlo control with a constant step size (Sutton & Barto 2018, Secs. 5.4 and 6.1, "constant-alpha MC").

For an agent with ``behaviour = "epsilon_greedy"`` (``policy.weight`` holds ``Q(s, a)``), after each episode, for
every step ``t`` (every visit), with ``G_t`` the discounted return from ``t``::

    Q(s_t, a_t) <- Q(s_t, a_t) + alpha (G_t - Q(s_t, a_t))

summed over the episode with ``Q`` fixed (off-line). The target is the sampled return, unbiased for ``Q_pi`` of the
behaviour but with the variance of every later reward: the Monte Carlo baseline of RUDDER's comparisons
(Arjona-Medina et al. 2019). The estimate is ``-sum_t (G_t - Q(s_t, a_t)) e(s_t, a_t)`` (gradient units of the run's
SGD step ``alpha``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.rules.base import Rule


def monte_carlo_errors(q: Tensor, batch: Batch) -> Tensor:
    """``sum_t (G_t - Q(s_t, a_t)) e(s_t, a_t)`` per learner, ``(L, S, A)``, for action values ``q`` ``(L, S, A)``."""
    ep = batch.episodes
    rows = torch.arange(ep.n).unsqueeze(1)
    errors = (batch.y - q[rows, ep.states, ep.actions]) * ep.mask  # batch.y: G_t (L, T)
    n_states, n_actions = q.shape[1:]
    out = torch.zeros(ep.n, n_states * n_actions, dtype=q.dtype)
    out.scatter_add_(1, ep.states * n_actions + ep.actions, errors)
    return out.view_as(q)


class MonteCarloControl(Rule):
    """Constant-alpha every-visit Monte Carlo control on an epsilon-greedy agent's action values."""

    name = "monte_carlo_control"
    title = "Monte Carlo control"
    colour = "#bcbd22"
    requires = frozenset({"torch", "action_values"})

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        return {"policy.weight": -monte_carlo_errors(model.policy.weight.detach(), batch),
                "value.weight": torch.zeros_like(model.value.weight)}
