"""Many independent environments stepped as one tensor: whole episodes (:func:`rollout`) or a stream of
transitions with auto-reset (:class:`BatchedEnv`).

Each of ``n`` environments is one learner's: its state is one entry of a ``(n,)`` tensor, and a
step samples every environment's action from its learner's policy and its successor from
``P(. | s, a)`` by inverse-CDF sampling of one uniform each, so the inner step has no Python loop
over environments (only the time loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bioplaus.rl.mdp import TabularMDP


@dataclass(frozen=True)
class Episodes:
    """One episode per environment, padded to the longest: all ``(n, T)``.

    ``states``, ``actions``, ``next_states`` (``n_states`` = the terminal state) are integer tensors,
    ``rewards`` float64; ``mask`` is 1 for real steps and 0 for padding; ``terminal`` is 1 where
    ``next_states`` is the terminal state. ``t`` indexes time within the episode.
    """

    states: Tensor
    actions: Tensor
    rewards: Tensor
    next_states: Tensor
    mask: Tensor
    terminal: Tensor

    @property
    def n(self) -> int:
        return self.states.shape[0]

    @property
    def length(self) -> int:
        return self.states.shape[1]


def _draw(cdf: Tensor, generator: torch.Generator) -> Tensor:
    """One index per row of ``cdf`` ``(n, k)`` (cumulative probabilities) by inverse-CDF sampling, ``(n,)``."""
    u = torch.rand(cdf.shape[0], 1, generator=generator, dtype=cdf.dtype)
    return (u > cdf).sum(1).clamp_(max=cdf.shape[1] - 1)


def _per_env(policy: Tensor, n: int) -> Tensor:
    """A policy ``(S, A)`` shared by all, or ``(n, S, A)`` one per environment, as ``(n, S, A)``."""
    return policy.expand(n, *policy.shape[-2:]) if policy.dim() == 2 else policy


def initial_states(mdp: TabularMDP, n: int, generator: torch.Generator) -> Tensor:
    """``n`` first states drawn from ``mdp.initial``, ``(n,)``."""
    return _draw(mdp.initial.cumsum(0).expand(n, -1), generator)


def step(mdp: TabularMDP, policy: Tensor, states: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """One step of every environment: actions from ``policy`` ``(n, S, A)`` and successors; ``(actions, next, rewards)``."""
    rows = torch.arange(states.shape[0])
    actions = _draw(policy[rows, states].cumsum(-1), generator)
    nxt = _draw(mdp.transitions[states, actions].cumsum(-1), generator)
    return actions, nxt, mdp.rewards[states, actions, nxt]


def rollout(mdp: TabularMDP, policy: Tensor, n: int, generator: torch.Generator, max_steps: int = 100_000) -> Episodes:
    """One complete episode in each of ``n`` environments under ``policy`` (``(S, A)`` or ``(n, S, A)``).

    Runs until every episode has ended (or ``max_steps``, after which unfinished episodes are cut:
    their last step is not terminal)."""
    pi = _per_env(policy.to(torch.float64), n)
    s = initial_states(mdp, n, generator)
    alive = torch.ones(n, dtype=torch.bool)
    cols: list[tuple[Tensor, ...]] = []
    for _ in range(max_steps):
        a, nxt, r = step(mdp, pi, s.clamp(max=mdp.n_states - 1), generator)
        live = alive.to(torch.float64)
        cols.append((s.clamp(max=mdp.n_states - 1), a, r * live, nxt, live, (nxt == mdp.n_states) & alive))
        alive = alive & (nxt < mdp.n_states)
        s = torch.where(alive, nxt, s)
        if not alive.any():
            break
    states, actions, rewards, next_states, mask, terminal = (torch.stack(c, dim=1) for c in zip(*cols))
    return Episodes(states, actions, rewards, next_states, mask, terminal.to(torch.float64))


class BatchedEnv:
    """``n`` environments of ``mdp`` stepped together, each resetting itself when its episode ends.

    ``step(policy)`` returns ``(states, actions, rewards, next_states, terminal)``, each ``(n,)``: the
    transition every environment just made (``next_states == n_states`` where it ended, after which
    that environment starts afresh from ``mdp.initial``)."""

    def __init__(self, mdp: TabularMDP, n: int, generator: torch.Generator):
        self.mdp, self.n, self.generator = mdp, n, generator
        self.states = initial_states(mdp, n, generator)

    def step(self, policy: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        s = self.states
        a, nxt, r = step(self.mdp, _per_env(policy.to(torch.float64), self.n), s, self.generator)
        terminal = nxt == self.mdp.n_states
        fresh = initial_states(self.mdp, self.n, self.generator)
        self.states = torch.where(terminal, fresh, nxt)
        return s, a, r, nxt, terminal
