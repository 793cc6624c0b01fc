"""Tabular episodic MDPs and their exact references: v_pi, Q_pi, A_pi, visitation and the policy gradient.

An MDP here is the model of an environment, in float64 tensors (Sutton & Barto 2018, ch. 3):

- ``transitions`` ``(S, A, S + 1)``: ``P(s' | s, a)``; column ``S`` is the terminal state
  (the episode ends), so each row sums to 1.
- ``rewards`` ``(S, A, S + 1)``: the reward received on the transition ``s, a -> s'``.
- ``initial`` ``(S,)``: the distribution of the first state.
- ``features`` ``(S, d)``: the state representation a linear learner sees (one-hot for a table;
  all-zero rows for states whose value is fixed at 0, e.g. the time before a cue).
- ``gamma``: the discount factor.

The exact references play the role backprop plays for the supervised rules:

- :func:`state_values`: ``v_pi`` from the linear solve ``(I - gamma P_pi) v = r_pi`` (S&B eq. 3.14 in matrix form);
- :func:`action_values`, :func:`advantages`: ``Q_pi(s, a) = sum_s' P (r + gamma v_pi(s'))``, ``A_pi = Q_pi - v_pi``;
- :func:`discounted_visitation`: ``d_gamma(s) = sum_t gamma^t Pr(s_t = s)`` = ``d0^T (I - gamma P_pi)^-1``;
- :func:`on_policy_distribution`: ``mu(s)``, expected visits per episode normalised (S&B eq. 9.2-9.3);
- :func:`performance` ``J(theta) = d0 . v_pi`` and :func:`policy_gradient` ``dJ/dtheta`` of a tabular softmax
  policy ``pi(a|s) = softmax(theta[s])[a]`` by the policy gradient theorem with the exact discounted
  visitation (Sutton et al. 2000, Theorem 1): ``dJ/dtheta[s, a] = d_gamma(s) pi(a|s) A_pi(s, a)``.

Policies are tensors ``(..., S, A)`` of probabilities: a leading learner dimension batches the
references over many independent learners.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite episodic MDP (see the module docstring for the shapes). ``n_states`` excludes the terminal state."""

    name: str
    transitions: Tensor
    rewards: Tensor
    initial: Tensor
    features: Tensor
    gamma: float = 1.0

    @property
    def n_states(self) -> int:
        return self.transitions.shape[0]

    @property
    def n_actions(self) -> int:
        return self.transitions.shape[1]

    @property
    def n_features(self) -> int:
        return self.features.shape[1]

    def expected_rewards(self) -> Tensor:
        """``r(s, a) = sum_s' P(s'|s,a) r(s,a,s')``, ``(S, A)``."""
        return (self.transitions * self.rewards).sum(-1)


def uniform_policy(mdp: TabularMDP) -> Tensor:
    """``pi(a|s) = 1/A``, ``(S, A)``."""
    return torch.full((mdp.n_states, mdp.n_actions), 1.0 / mdp.n_actions, dtype=torch.float64)


def softmax_policy(logits: Tensor) -> Tensor:
    """``pi(a|s) = exp(theta[s, a]) / sum_b exp(theta[s, b])`` for logits ``(..., S, A)``."""
    return torch.softmax(logits.to(torch.float64), dim=-1)


def policy_matrices(mdp: TabularMDP, policy: Tensor) -> tuple[Tensor, Tensor]:
    """``P_pi`` ``(..., S, S)`` (non-terminal successors only) and ``r_pi`` ``(..., S)`` under ``policy`` ``(..., S, A)``."""
    p_pi = torch.einsum("...sa,sat->...st", policy, mdp.transitions[:, :, : mdp.n_states])
    r_pi = torch.einsum("...sa,sa->...s", policy, mdp.expected_rewards())
    return p_pi, r_pi


def state_values(mdp: TabularMDP, policy: Tensor) -> Tensor:
    """``v_pi`` ``(..., S)`` from ``(I - gamma P_pi) v = r_pi``."""
    p_pi, r_pi = policy_matrices(mdp, policy)
    eye = torch.eye(mdp.n_states, dtype=torch.float64)
    return torch.linalg.solve(eye - mdp.gamma * p_pi, r_pi.unsqueeze(-1)).squeeze(-1)


def action_values(mdp: TabularMDP, policy: Tensor) -> Tensor:
    """``Q_pi(s, a) = sum_s' P(s'|s,a) (r(s,a,s') + gamma v_pi(s'))`` with ``v(terminal) = 0``, ``(..., S, A)``."""
    v = state_values(mdp, policy)
    v_next = torch.cat([v, torch.zeros_like(v[..., :1])], dim=-1)  # (..., S + 1)
    return mdp.expected_rewards() + mdp.gamma * torch.einsum("sat,...t->...sa", mdp.transitions, v_next)


def optimal_action_values(mdp: TabularMDP, tol: float = 1e-12, max_sweeps: int = 100_000) -> Tensor:
    """``Q*(s, a)`` ``(S, A)`` by value iteration, ``Q <- r(s, a) + gamma sum_s' P(s'|s,a) max_a' Q(s', a')`` with
    ``Q(terminal) = 0`` (Sutton & Barto 2018, eq. 4.2 for action values), until no entry moves by more than ``tol``.
    Needs ``gamma < 1`` or an MDP whose every policy ends its episodes (both keep the backup a contraction)."""
    r, p = mdp.expected_rewards(), mdp.transitions
    q = torch.zeros_like(r)
    for _ in range(max_sweeps):
        v_next = torch.cat([q.max(-1).values, torch.zeros(1, dtype=q.dtype)])
        new = r + mdp.gamma * p @ v_next
        if (new - q).abs().max() <= tol:
            return new
        q = new
    return q


def epsilon_greedy_policy(action_values: Tensor, epsilon: float) -> Tensor:
    """``pi(a|s) = epsilon / A + (1 - epsilon) [a in argmax_b Q(s, b)] / |argmax|`` for action values ``(..., S, A)``
    (ties share the greedy mass, so all-equal values give the uniform policy)."""
    q = action_values.to(torch.float64)
    greedy = (q == q.max(-1, keepdim=True).values).to(torch.float64)
    return epsilon / q.shape[-1] + (1 - epsilon) * greedy / greedy.sum(-1, keepdim=True)


def advantages(mdp: TabularMDP, policy: Tensor) -> Tensor:
    """``A_pi(s, a) = Q_pi(s, a) - v_pi(s)``, ``(..., S, A)``."""
    return action_values(mdp, policy) - state_values(mdp, policy).unsqueeze(-1)


def discounted_visitation(mdp: TabularMDP, policy: Tensor, gamma: float | None = None) -> Tensor:
    """``sum_t gamma^t Pr(s_t = s)`` ``(..., S)``: ``d0^T (I - gamma P_pi)^-1``; ``gamma = 1`` gives expected visits per episode."""
    g = mdp.gamma if gamma is None else gamma
    p_pi, _ = policy_matrices(mdp, policy)
    eye = torch.eye(mdp.n_states, dtype=torch.float64)
    a = (eye - g * p_pi).transpose(-1, -2)
    d0 = mdp.initial.expand(*p_pi.shape[:-2], mdp.n_states)
    return torch.linalg.solve(a, d0.unsqueeze(-1)).squeeze(-1)


def on_policy_distribution(mdp: TabularMDP, policy: Tensor) -> Tensor:
    """``mu(s)``: expected visits to ``s`` per episode, normalised to sum to 1 (S&B 2018 eqs. 9.2-9.3), ``(..., S)``."""
    eta = discounted_visitation(mdp, policy, gamma=1.0)
    return eta / eta.sum(-1, keepdim=True)


def performance(mdp: TabularMDP, logits: Tensor) -> Tensor:
    """``J(theta) = sum_s d0(s) v_pi(s)`` of the softmax policy of ``logits`` ``(..., S, A)``; shape ``(...)``."""
    return state_values(mdp, softmax_policy(logits)) @ mdp.initial


def policy_gradient(mdp: TabularMDP, logits: Tensor) -> Tensor:
    """Exact ``dJ/dtheta`` ``(..., S, A)`` of a tabular softmax policy: ``d_gamma(s) pi(a|s) A_pi(s, a)``
    (the policy gradient theorem, Sutton et al. 2000, with ``d log pi(b|s)/d theta[s, a] = [a = b] - pi(a|s)``)."""
    pi = softmax_policy(logits)
    return discounted_visitation(mdp, pi).unsqueeze(-1) * pi * advantages(mdp, pi)


def value_error(mdp: TabularMDP, policy: Tensor, values: Tensor, weighting: str = "on_policy") -> Tensor:
    """RMS error ``sqrt(sum_s w(s) (v_hat(s) - v_pi(s))^2)`` of ``values`` ``(..., S)`` against ``v_pi``, ``(...)``.

    ``weighting``: ``on_policy`` (``w = mu``, the issue's ``value_error``) or ``uniform`` over the
    non-terminal states (Sutton & Barto's random-walk figures, 2018 Figs. 7.2, 12.3)."""
    v = state_values(mdp, policy)
    w = on_policy_distribution(mdp, policy) if weighting == "on_policy" else torch.full_like(v, 1.0 / mdp.n_states)
    return ((values - v).square() * w).sum(-1).sqrt()


def expected_td_errors(mdp: TabularMDP, policy: Tensor, values: Tensor, rewarded: bool = True) -> Tensor:
    """``E[delta_t | s_t = s] = r_pi(s) + gamma (P_pi v_hat)(s) - v_hat(s)`` ``(..., S)`` for values ``(..., S)``
    (``v_hat(terminal) = 0``): the TD error, the model of phasic dopamine (Schultz, Dayan & Montague 1997), that a
    learner with these values expects in each state. ``rewarded = False``: on a trial whose rewards are all omitted."""
    p_pi, r_pi = policy_matrices(mdp, policy)
    nxt = torch.einsum("...st,...t->...s", p_pi, values)
    return (r_pi if rewarded else 0.0) + mdp.gamma * nxt - values
