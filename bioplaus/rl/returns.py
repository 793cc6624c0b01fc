"""Returns of batched episodes: the Monte Carlo return and the lambda-return (Sutton & Barto 2018, eqs. 3.8 and 12.3).

Episodes are ``(n, T)`` tensors (:class:`bioplaus.rl.episodes.Episodes`): rewards zero after an
episode's end; ``terminal[t] = 1`` where the transition at ``t`` ended the episode.
"""

from __future__ import annotations

import torch
from torch import Tensor


def discounted_returns(rewards: Tensor, gamma: float) -> Tensor:
    """``G_t = sum_{k >= t} gamma^(k - t) r_k`` for rewards ``(n, T)`` (zero after an episode's end), ``(n, T)``."""
    out = torch.zeros_like(rewards)
    g = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        g = rewards[:, t] + gamma * g
        out[:, t] = g
    return out


def lambda_returns(rewards: Tensor, next_values: Tensor, terminal: Tensor, gamma: float, lam: float) -> Tensor:
    """``G^lambda_t = r_t + gamma (1 - terminal_t) [(1 - lambda) v(s_{t+1}) + lambda G^lambda_{t+1}]`` (S&B eq. 12.3
    in recursive form), for ``(n, T)`` rewards, values of the successor states and terminal flags; ``(n, T)``.

    The recursion ends at each episode's terminal step; steps after it (padding) give 0."""
    out = torch.zeros_like(rewards)
    g = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        cont = 1.0 - terminal[:, t]
        g = rewards[:, t] + gamma * cont * ((1 - lam) * next_values[:, t] + lam * g)
        out[:, t] = g
    return out
