"""Q-learning and Watkins's Q(lambda) on a table of action values (Watkins 1989; Sutton & Barto 2018, Secs. 6.5, 12.10).

For an agent with ``behaviour = "epsilon_greedy"`` (``policy.weight`` holds ``Q(s, a)``), at each step ``t`` of an
episode, online (``Q`` changes within the episode)::

    delta = r_t + gamma max_a Q(s_{t+1}, a) - Q(s_t, a_t)          (Q(terminal, .) = 0)
    z    <- 0 if a_t is not greedy under Q, else gamma lambda z;   z(s_t, a_t) += 1
    Q    <- Q + alpha delta z

With ``lam = 0`` this is one-step Q-learning, ``Q(s_t, a_t) += alpha delta``; its fixed point is ``Q*`` whatever the
behaviour, so on an MDP every state-action pair of which the behaviour keeps visiting the table converges to ``Q*``
(Watkins & Dayan 1992) for step sizes that fall fast enough, and to a neighbourhood of it for a constant ``alpha``.
Watkins's ``lambda > 0`` carries ``delta`` back along the greedy part of the episode (the trace is cut at an
exploratory action). ``alpha`` is the run's SGD lr; the estimate is ``(Q_before - Q_after) / lr`` (gradient units),
so one optimizer step makes exactly the episode's updates. This is the TD baseline of RUDDER's comparisons
(Arjona-Medina et al. 2019), and ``rules.Rudder(rules.QLearning())`` is Q-learning on RUDDER's redistributed reward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rules.base import Rule


def watkins_q_lambda(q: Tensor, batch: Batch, alpha: float, lam: float) -> tuple[Tensor, Tensor]:
    """Online Watkins's Q(lambda) over one episode per learner: ``(Q_after, delta)``, ``(L, S, A)`` and ``(L, T)``."""
    ep, gamma = batch.episodes, batch.mdp.gamma
    q = q.clone()
    n, n_states = ep.n, q.shape[1]
    rows = torch.arange(n)
    z = torch.zeros_like(q)
    deltas = torch.zeros_like(ep.rewards)
    for t in range(ep.length):
        m = ep.mask[:, t]
        s, a, nxt = ep.states[:, t], ep.actions[:, t], ep.next_states[:, t]
        q_s = q[rows, s]  # (L, A)
        greedy = q_s[rows, a] == q_s.max(-1).values
        bootstrap = torch.where(nxt < n_states, q[rows, nxt.clamp(max=n_states - 1)].max(-1).values, torch.zeros_like(m))
        delta = (ep.rewards[:, t] + gamma * bootstrap - q_s[rows, a]) * m
        keep = torch.where(greedy, gamma * lam, 0.0).to(q.dtype) if lam > 0 else torch.zeros_like(m)
        z = z * keep.view(-1, 1, 1)
        z[rows, s, a] += m
        q = q + alpha * delta.view(-1, 1, 1) * z
        deltas[:, t] = delta
    return q, deltas


class QLearning(Rule):
    """Watkins's Q(lambda) on an epsilon-greedy agent's action values (``lam = 0``: Q-learning). Args: ``lam`` in
    ``[0, 1]``; ``alpha`` (step size; ``None``: the run's SGD lr)."""

    name = "q_learning"
    title = "Q-learning"
    colour = "#8c564b"
    requires = frozenset({"torch", "action_values"})

    def __init__(self, lam: float = 0.0, alpha: float | None = None, label: str | None = None):
        super().__init__(label)
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not 0.0 <= lam <= 1.0:
            raise BioplausError(f"rule 'q_learning': lam must be a number in [0, 1], got {lam!r}.")
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0):
            raise BioplausError(f"rule 'q_learning': alpha must be a non-negative number or None, got {alpha!r}.")
        self.lam, self.alpha = float(lam), alpha
        self.lr: float | None = None
        self.td_errors: Tensor | None = None

    def bind_optimizer(self, optimizer: Any) -> None:
        name, kwargs = optimizer if isinstance(optimizer, tuple) else ("", {})
        if name != "sgd" or kwargs.get("momentum", 0):
            raise BioplausError(f"rule 'q_learning' makes its own updates within each episode and needs plain SGD "
                                f"(optimizer = ('sgd', {{'lr': ...}})); got {name!r} {kwargs}.")
        self.lr = kwargs.get("lr")

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        alpha = self.alpha if self.alpha is not None else self.lr
        if alpha is None:
            raise BioplausError("rule 'q_learning' has no step size: give alpha=..., or run it under an sgd optimizer.")
        lr = self.lr if self.lr else (alpha or 1.0)
        q = model.policy.weight.detach()
        q_after, self.td_errors = watkins_q_lambda(q, batch, alpha, self.lam)
        return {"policy.weight": (q - q_after) / lr, "value.weight": torch.zeros_like(model.value.weight)}

    def probe_values(self) -> dict[str, Any]:
        return {} if self.td_errors is None else {"td_error": self.td_errors}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lam": self.lam, "alpha": self.alpha}
