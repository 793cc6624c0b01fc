"""A tabular MDP as a single Gymnasium environment (``gymnasium.Env``), for use outside bioplaus's batched form.

Observations are state indices (``Discrete(n_states)``); after the episode ends, ``step`` returns
``terminated = True`` and the last observation is the state left. Gymnasium's own vector wrappers
step several of these; bioplaus's runs use :class:`bioplaus.rl.episodes.BatchedEnv` instead. The other way round,
:func:`from_gymnasium` reads the model of a Gymnasium toy-text environment (FrozenLake, CliffWalking, Taxi), which
``tasks.Episodic("gymnasium", {"id": "FrozenLake-v1"})`` then runs batched, with exact references.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from bioplaus.errors import BioplausError
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



def from_gymnasium(env: gym.Env, gamma: float = 1.0) -> TabularMDP:
    """The model of a Gymnasium toy-text environment (one exposing ``unwrapped.P[s][a] = [(p, s', r, done), ...]`` and
    ``initial_state_distrib``, e.g. FrozenLake, CliffWalking, Taxi) as a :class:`TabularMDP`, so that a user's own
    discrete environment gets exact references and batched episodes.

    A state entered by a ``done`` transition becomes absorbing: leaving it ends the episode with reward 0, so every
    sampled reward and return is the environment's (episodes are one step longer, in a state of value 0). A state
    entered both by ``done`` and by other transitions, or a transition ``(s, a, s')`` listed with two rewards,
    cannot be represented and is a :class:`BioplausError`."""
    u = env.unwrapped
    p_table, name = getattr(u, "P", None), getattr(getattr(env, "spec", None), "id", type(u).__name__)
    if not isinstance(p_table, dict) or not isinstance(env.observation_space, gym.spaces.Discrete) \
            or not isinstance(env.action_space, gym.spaces.Discrete):
        raise BioplausError(f"from_gymnasium: environment {name!r} must have Discrete observation and action spaces and a "
                            "transition table unwrapped.P[s][a] = [(probability, next_state, reward, done), ...] (as the "
                            "toy-text environments FrozenLake, CliffWalking and Taxi have).")
    n, n_act = int(env.observation_space.n), int(env.action_space.n)
    entries = [(s, a, float(p), int(nxt), float(r), bool(done)) for s in range(n) for a in range(n_act)
               for p, nxt, r, done in p_table[s][a] if p > 0]
    ends = {nxt for _s, _a, _p, nxt, _r, done in entries if done}
    both = sorted(ends & {nxt for s, _a, _p, nxt, _r, done in entries if not done and s not in ends})
    if both:
        raise BioplausError(f"from_gymnasium: in {name!r} the states {both} are entered both by transitions that end the "
                            "episode and by ones that do not; bioplaus cannot represent that.")
    f64 = torch.float64
    transitions, rewards = torch.zeros(n, n_act, n + 1, dtype=f64), torch.zeros(n, n_act, n + 1, dtype=f64)
    seen: dict[tuple[int, int, int], float] = {}
    for s, a, p, nxt, r, _done in entries:
        if s in ends:
            continue
        if seen.setdefault((s, a, nxt), r) != r:
            raise BioplausError(f"from_gymnasium: in {name!r} the transition ({s}, {a}) -> {nxt} is listed with rewards "
                                f"{seen[(s, a, nxt)]} and {r}; bioplaus needs one reward per transition.")
        transitions[s, a, nxt] += p
        rewards[s, a, nxt] = r
    for s in ends:
        transitions[s, :, n] = 1.0
    initial = torch.as_tensor(getattr(u, "initial_state_distrib", None), dtype=f64) \
        if getattr(u, "initial_state_distrib", None) is not None else None
    if initial is None:
        raise BioplausError(f"from_gymnasium: environment {name!r} has no initial_state_distrib.")
    return TabularMDP(f"gymnasium:{name}", transitions, rewards, initial, torch.eye(n, dtype=f64), gamma)
