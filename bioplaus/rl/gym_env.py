"""A tabular MDP as a single Gymnasium environment (``gymnasium.Env``), for use outside bioplaus's batched form.

Observations are state indices (``Discrete(n_states)``); after the episode ends, ``step`` returns
``terminated = True`` and the last observation is the state left. Gymnasium's own vector wrappers
step several of these; bioplaus's runs use :class:`bioplaus.rl.episodes.BatchedEnv` instead.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from bioplaus.rl.mdp import TabularMDP


class TabularEnv(gym.Env):
    """``gymnasium.Env`` over a :class:`~bioplaus.rl.mdp.TabularMDP`; ``reset(seed=...)`` seeds ``self.np_random``."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, mdp: TabularMDP):
        self.mdp = mdp
        self.observation_space = gym.spaces.Discrete(mdp.n_states)
        self.action_space = gym.spaces.Discrete(mdp.n_actions)
        self._p = mdp.transitions.numpy()
        self._r = mdp.rewards.numpy()
        self._state = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._state = int(self.np_random.choice(self.mdp.n_states, p=self.mdp.initial.numpy()))
        return self._state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        s = self._state
        p = self._p[s, action]
        nxt = int(self.np_random.choice(p.shape[0], p=p / p.sum()))
        reward = float(self._r[s, action, nxt])
        terminated = nxt == self.mdp.n_states
        if not terminated:
            self._state = nxt
        return (s if terminated else nxt), reward, terminated, False, {}

