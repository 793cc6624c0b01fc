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
    return torch.searchsorted(cdf.contiguous(), u, right=True).squeeze(1).clamp_(max=cdf.shape[1] - 1)


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

    ``step(policy)`` (``(S, A)`` shared or ``(n, S, A)``) returns ``(states, actions, rewards, next_states,
    terminal)``, each ``(n,)``: the transition every environment just made (``next_states == n_states`` where
    it ended, after which that environment starts afresh from ``mdp.initial``). The cumulative transition
    table is formed once, flat, so a step is a few ``index_select`` s and one ``searchsorted`` per draw."""

    def __init__(self, mdp: TabularMDP, n: int, generator: torch.Generator):
        self.mdp, self.n, self.generator = mdp, n, generator
        s, a = mdp.n_states, mdp.n_actions
        self.cdf = mdp.transitions.cumsum(-1).reshape(s * a, s + 1).contiguous()
        self.flat_rewards = mdp.rewards.reshape(-1).contiguous()
        self.offsets = torch.arange(n) * s
        fixed = torch.nonzero(mdp.initial == 1.0)
        self.fixed_start = int(fixed[0]) if fixed.numel() == 1 else None
        self.states = initial_states(mdp, n, generator)

    def step(self, policy: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        mdp, s = self.mdp, self.states
        pi = policy.to(torch.float64)
        if pi.dim() == 2:
            cdf_pi = pi.cumsum(-1).index_select(0, s)
        else:
            cdf_pi = pi.cumsum(-1).reshape(-1, mdp.n_actions).index_select(0, self.offsets + s)
        a = _draw(cdf_pi, self.generator) if mdp.n_actions > 1 else torch.zeros_like(s)
        sa = s * mdp.n_actions + a
        nxt = _draw(self.cdf.index_select(0, sa), self.generator)
        r = self.flat_rewards.index_select(0, sa * (mdp.n_states + 1) + nxt)
        terminal = nxt == mdp.n_states
        if self.fixed_start is not None:
            self.states = torch.where(terminal, self.fixed_start, nxt)
        else:
            self.states = torch.where(terminal, initial_states(mdp, self.n, self.generator), nxt)
        return s, a, r, nxt, terminal
