"""RUDDER: return decomposition for delayed rewards (Arjona-Medina, Gillhofer, Widrich, Unterthiner, Brandstetter &
Hochreiter, "RUDDER: Return Decomposition for Delayed Rewards", NeurIPS 2019).

An LSTM reads an episode's state-action pairs and predicts at every step ``t`` the episode's return,
``g_t ~ E[G_0 | s_0, a_0, ..., s_t, a_t]``. The reward is redistributed as differences of consecutive predictions
(the paper's Sec. 3 and 4, "reward redistribution by return decomposition"), here with the prediction error of the
last step added to it, so that nothing is lost::

    r~_0 = g_0,   r~_t = g_t - g_{t-1}  (1 <= t < T),   r~_{T-1} += G_0 - g_{T-1}

**Return equivalence.** For every episode ``sum_t r~_t = G_0`` (with ``gamma = 1``): the redistributed
decision process is return-equivalent to the original, and return-equivalent processes have the same optimal
policies (the paper's Theorem 1), so any learner of this package may learn from ``r~`` instead of ``r``. If the
predictor is ``g_t = Q_pi(s_t, a_t)`` on a deterministic task whose reward comes at the end, then
``g_{t-1} = Q_pi(s_{t-1}, a_{t-1}) = v_pi(s_t)`` and ``r~_t = A_pi(s_t, a_t)``: the redistributed reward at each step
is that step's advantage, so credit arrives when the decision is made instead of at the delayed reward.
``credit_error`` (``probe_values()``) is the RMS over steps ``t >= 1`` of ``r~_t - A_pi(s_t, a_t)``.
On a task with random rewards (``delayed_choice`` with ``noise > 0``) a good predictor passes each step's random
reward on in ``r~_t`` (it is part of the return), so ``credit_error`` cannot fall below about the noise's size there
(measured: 0.50-0.52 after 300 episodes with noise 0.5); it is 0 only for the exact predictor on a deterministic task.

The rule wraps an inner rule (default: off-line one-step actor-critic, a TD learner) that learns from the
redistributed episodes (``Rudder(QLearning())`` on an epsilon-greedy agent: Q-learning on the redistributed reward,
the pairing of the authors' demonstration code, where RUDDER's Q-values are estimated from the redistributed
reward); after each update the LSTM takes ``predictor_steps`` Adam steps (``predictor_lr``) on the squared error
``sum_t (g_t - G_0)^2`` of the batch's episodes (the paper's main loss is at the last step, with auxiliary losses at
every step; here every step is weighted alike).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rl.mdp import advantages
from bioplaus.rl.returns import discounted_returns
from bioplaus.rules.actor_critic import ActorCritic
from bioplaus.rules.base import Rule


def redistribute(predictions: Tensor, returns: Tensor, mask: Tensor) -> Tensor:
    """The redistributed rewards ``(L, T)`` from predictions ``g`` ``(L, T)``, each episode's return ``G_0`` ``(L,)`` and
    its mask ``(L, T)`` (see the module docstring): differences of predictions, the last real step topped up."""
    g = predictions * mask
    r = g - torch.cat([torch.zeros_like(g[:, :1]), g[:, :-1]], dim=1)
    r = r * mask
    last = mask.sum(1).long().clamp(min=1) - 1
    rows = torch.arange(g.shape[0])
    r[rows, last] += returns - g[rows, last]
    return r


class ReturnPredictor(nn.Module):
    """An LSTM over one-hot state-action pairs ``(L, T, S * A)`` with a linear read-out: ``g_t`` ``(L, T)``, float64."""

    def __init__(self, n_states: int, n_actions: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.n_states, self.n_actions = n_states, n_actions
        self.lstm = nn.LSTM(n_states * n_actions, hidden, batch_first=True, dtype=torch.float64)
        self.readout = nn.Linear(hidden, 1, dtype=torch.float64)
        bound = 1 / math.sqrt(hidden)
        with torch.no_grad():  # PyTorch's default initialisation U(-1/sqrt(h), 1/sqrt(h)), drawn from the rule's generator
            for p in self.parameters():
                p.copy_((torch.rand(p.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound)

    def forward(self, states: Tensor, actions: Tensor, mask: Tensor) -> Tensor:
        pairs = torch.nn.functional.one_hot(states * self.n_actions + actions, self.n_states * self.n_actions)
        h, _ = self.lstm(pairs.to(torch.float64) * mask.unsqueeze(-1))
        return self.readout(h).squeeze(-1)


def redistributed_batch(batch: Batch, rewards: Tensor) -> Batch:
    """``batch`` with its episodes' rewards replaced by ``rewards`` (and its returns recomputed)."""
    episodes = dataclasses.replace(batch.episodes, rewards=rewards)
    return dataclasses.replace(batch, y=discounted_returns(rewards, batch.mdp.gamma), episodes=episodes)


class Rudder(Rule):
    """RUDDER around an inner rule. Args: ``inner`` (a rule; default off-line one-step actor-critic), ``hidden`` (LSTM
    units), ``predictor_lr`` and ``predictor_steps`` (the LSTM's Adam steps per update)."""

    name = "rudder"
    title = "RUDDER"
    colour = "#e377c2"

    def __init__(self, inner: Rule | None = None, hidden: int = 16, predictor_lr: float = 0.01, predictor_steps: int = 1,
                 label: str | None = None):
        super().__init__(label)
        self.inner = inner if inner is not None else ActorCritic(lam_theta=0.0, online=False)
        if not isinstance(self.inner, Rule) or isinstance(self.inner, Rudder):
            raise BioplausError(f"rule 'rudder': inner must be a (non-RUDDER) rule object, got {inner!r}.")
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise BioplausError(f"rule 'rudder': hidden (LSTM units) must be a positive integer, got {hidden!r}.")
        if not predictor_lr > 0 or isinstance(predictor_steps, bool) or not isinstance(predictor_steps, int) or predictor_steps < 0:
            raise BioplausError(f"rule 'rudder': predictor_lr must be positive and predictor_steps a non-negative integer, "
                                f"got {predictor_lr!r} and {predictor_steps!r}.")
        self.requires = self.inner.requires
        self.hidden, self.predictor_lr, self.predictor_steps = hidden, float(predictor_lr), predictor_steps
        self.predictor: ReturnPredictor | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.last: dict[str, Any] = {}

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        spec = model.spec
        self.predictor = ReturnPredictor(spec.n_states, spec.n_actions, self.hidden, generator)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=self.predictor_lr)
        self.inner.setup(model, generator)

    def bind_optimizer(self, optimizer: Any) -> None:
        self.inner.bind_optimizer(optimizer)

    def redistribution(self, model: nn.Module, batch: Batch) -> Tensor:
        ep = batch.episodes
        with torch.no_grad():
            g = self.predictor(ep.states, ep.actions, ep.mask)
        return redistribute(g, batch.y[:, 0], ep.mask)

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        if self.predictor is None:
            raise BioplausError("rule 'rudder' was not set up: call setup(model, generator) first (the run loop does).")
        rewards = self.redistribution(model, batch)
        ep = batch.episodes
        adv = advantages(batch.mdp, model.probabilities())  # (L, S, A)
        rows = torch.arange(ep.n).unsqueeze(1)
        later = ep.mask.clone()
        later[:, 0] = 0
        err = (rewards - adv[rows, ep.states, ep.actions]) * later
        self.last = {"redistributed": rewards, "credit_error": float((err.square().sum() / later.sum().clamp(min=1)).sqrt())}
        return self.inner.estimate(model, redistributed_batch(batch, rewards))

    def after_step(self, model: nn.Module, batch: Batch, estimate: dict[str, Tensor]) -> None:
        ep = batch.episodes
        target = batch.y[:, :1]  # G_0, predicted at every step
        for _ in range(self.predictor_steps):
            self.optimizer.zero_grad()
            loss = ((self.predictor(ep.states, ep.actions, ep.mask) - target).square() * ep.mask).sum() / ep.n
            loss.backward()
            self.optimizer.step()
        self.inner.after_step(model, batch, estimate)

    def probe_values(self) -> dict[str, Any]:
        return {**self.inner.probe_values(), **self.last}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "inner": self.inner.config(), "hidden": self.hidden, "predictor_lr": self.predictor_lr,
                "predictor_steps": self.predictor_steps}
