"""The shipped tabular environments, as :class:`~bioplaus.rl.mdp.TabularMDP` models.

- :func:`random_walk`: Sutton & Barto's random walk (2018, Example 6.2 with 5 states, rewards 0/+1;
  Example 7.1 and ch. 12 with 19 states, rewards -1/+1), start in the centre, left or right with
  probability 1/2, ``gamma = 1``; true values ``i/6`` (5 states) and ``-0.9 ... 0.9`` (19 states).
- :func:`conditioning`: a classical-conditioning trial (Schultz, Dayan & Montague 1997, Science 275:1593):
  time steps ``0 .. n_steps - 1``, a cue at ``cue_step``, a reward of ``reward`` at ``reward_step``; the
  states are the time steps and the features a complete serial compound (one-hot time since the cue),
  all-zero before the cue, whose onset is unpredictable (so the value there stays 0).
- :func:`delayed_choice`: a delayed-reward task in the spirit of RUDDER's (Arjona-Medina et al. 2019):
  a choice between two actions at the first step, then ``delay`` steps in which actions do nothing,
  and a reward of 1 at the episode's end only if action 1 was chosen.
- :func:`small_mdp`: a random 4-state, 2-action MDP with termination probability 0.2 per step and
  ``gamma = 0.9``, fixed by ``seed``: the test bed for the policy-gradient estimators.
"""

from __future__ import annotations

import torch

from bioplaus.errors import BioplausError
from bioplaus.rl.mdp import TabularMDP

F64 = torch.float64


def _check_int(value: object, field: str, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BioplausError(f"{where}: field '{field}' must be an integer >= {minimum}, got {value!r}.")
    return value


def random_walk(n_states: int = 19) -> TabularMDP:
    """Sutton & Barto's random walk with ``n_states`` (odd) non-terminal states, one action."""
    n = _check_int(n_states, "n_states", "random_walk", 3)
    if n % 2 == 0:
        raise BioplausError(f"random_walk: field 'n_states' must be odd (the walk starts in the centre), got {n}.")
    left_reward = 0.0 if n == 5 else -1.0
    p = torch.zeros(n, 1, n + 1, dtype=F64)
    r = torch.zeros(n, 1, n + 1, dtype=F64)
    for s in range(n):
        # the left end and the right end both lead to the single terminal column; their rewards differ
        left, right = (s - 1, s + 1)
        if left < 0:
            p[s, 0, n] += 0.5
            r[s, 0, n] = left_reward
        else:
            p[s, 0, left] += 0.5
        if right >= n:
            p[s, 0, n] += 0.5
            r[s, 0, n] = 1.0
        else:
            p[s, 0, right] += 0.5
    initial = torch.zeros(n, dtype=F64)
    initial[n // 2] = 1.0
    return TabularMDP(f"random_walk_{n}", p, r, initial, torch.eye(n, dtype=F64), gamma=1.0)


def random_walk_values(n_states: int) -> torch.Tensor:
    """The walk's true values in closed form (S&B 2018, Examples 6.2 and 7.1): a linear ramp between the end rewards."""
    n = n_states
    left = 0.0 if n == 5 else -1.0
    return left + (1.0 - left) * torch.arange(1, n + 1, dtype=F64) / (n + 1)


def conditioning(n_steps: int = 20, cue_step: int = 5, reward_step: int = 15, reward: float = 1.0,
                 gamma: float = 1.0) -> TabularMDP:
    """One conditioning trial per episode (see the module docstring); state ``t`` is time step ``t``."""
    where = "conditioning"
    n = _check_int(n_steps, "n_steps", where, 2)
    if not 0 <= cue_step <= reward_step < n:
        raise BioplausError(f"{where}: need 0 <= cue_step <= reward_step < n_steps, got cue_step={cue_step}, "
                            f"reward_step={reward_step}, n_steps={n}.")
    p = torch.zeros(n, 1, n + 1, dtype=F64)
    r = torch.zeros(n, 1, n + 1, dtype=F64)
    for t in range(n):
        p[t, 0, t + 1] = 1.0  # t + 1 = n is the terminal column
    r[reward_step, 0, reward_step + 1] = reward  # reward delivered on leaving the reward step
    features = torch.zeros(n, n - cue_step, dtype=F64)
    features[cue_step:] = torch.eye(n - cue_step, dtype=F64)
    initial = torch.zeros(n, dtype=F64)
    initial[0] = 1.0
    return TabularMDP(f"conditioning_{n}_{cue_step}_{reward_step}", p, r, initial, features, gamma=gamma)


def delayed_choice(delay: int = 10, noise: float = 0.0) -> TabularMDP:
    """A choice at state 0 (action 1 is rewarded), then ``delay`` steps along the chosen chain; reward 1 at the end.

    ``noise = 0``: states ``0`` the choice, ``1 .. delay`` the chain after action 0, ``delay + 1 .. 2 delay`` after
    action 1; deterministic. ``noise > 0``: every step of the delay also pays ``+noise`` or ``-noise`` with probability
    1/2 each (zero mean: the return's variance grows like ``delay noise^2``, which slows Monte Carlo learning, as in
    RUDDER's tasks); each chain step then has two states, the sign of the reward that led into it, so state
    ``1 + 2 (a delay + k) + b`` is step ``k`` after action ``a`` entered with sign ``b``. ``gamma = 1``. Actions after
    the choice do nothing. With ``delay = 0`` the reward follows the choice at once."""
    d = _check_int(delay, "delay", "delayed_choice", 0)
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or noise < 0:
        raise BioplausError(f"delayed_choice: field 'noise' must be a non-negative number, got {noise!r}.")
    branches = 2 if noise > 0 and d > 0 else 1
    n = 1 + 2 * d * branches
    p = torch.zeros(n, 2, n + 1, dtype=F64)
    r = torch.zeros(n, 2, n + 1, dtype=F64)

    def state(a: int, k: int, b: int) -> int:
        return 1 + (a * d + k) * branches + b

    def enter(src: int, acts: slice | int, a: int, k: int) -> None:
        """From ``src`` into step ``k`` of chain ``a`` (or the end, ``k = d``)."""
        if k == d:
            p[src, acts, n] = 1.0
            r[src, acts, n] = float(a)
            return
        for b in range(branches):
            p[src, acts, state(a, k, b)] = 1.0 / branches
            if branches == 2:
                r[src, acts, state(a, k, b)] = noise if b == 0 else -noise

    for a in range(2):
        enter(0, a, a, 0)
        for k in range(d):
            for b in range(branches):
                enter(state(a, k, b), slice(None), a, k + 1)
    initial = torch.zeros(n, dtype=F64)
    initial[0] = 1.0
    name = f"delayed_choice_{d}" + (f"_noise{noise:g}" if branches == 2 else "")
    return TabularMDP(name, p, r, initial, torch.eye(n, dtype=F64), gamma=1.0)


def small_mdp(seed: int = 0, n_states: int = 4, n_actions: int = 2, terminate: float = 0.2, gamma: float = 0.9,
              start_state: int | None = None) -> TabularMDP:
    """A random MDP fixed by ``seed``: ``P(.|s,a)`` uniform on the simplex scaled by ``1 - terminate``,
    rewards ``N(0, 1)`` per ``(s, a, s')``; the start state uniform, or ``start_state`` always (then the
    discounted and undiscounted state distributions differ most, and so does REINFORCE without ``gamma^t``)."""
    if not 0.0 < terminate <= 1.0 or not 0.0 <= gamma <= 1.0:
        raise BioplausError(f"small_mdp: need 0 < terminate <= 1 and 0 <= gamma <= 1, got terminate={terminate!r}, gamma={gamma!r}.")
    if start_state is not None and not 0 <= start_state < n_states:
        raise BioplausError(f"small_mdp: field 'start_state' must be None or in 0 .. {n_states - 1}, got {start_state!r}.")
    g = torch.Generator().manual_seed(seed)
    e = -torch.log(torch.rand(n_states, n_actions, n_states, generator=g, dtype=F64))
    p = torch.cat([e / e.sum(-1, keepdim=True) * (1 - terminate),
                   torch.full((n_states, n_actions, 1), terminate, dtype=F64)], dim=-1)
    r = torch.randn(n_states, n_actions, n_states + 1, generator=g, dtype=F64)
    initial = torch.full((n_states,), 1.0 / n_states, dtype=F64)
    if start_state is not None:
        initial = torch.zeros(n_states, dtype=F64)
        initial[start_state] = 1.0
    return TabularMDP(f"small_mdp_{seed}", p, r, initial, torch.eye(n_states, dtype=F64), gamma=gamma)
