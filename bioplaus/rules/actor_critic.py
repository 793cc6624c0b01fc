"""Actor-critic with eligibility traces for actor and critic (Sutton & Barto 2018, Sec. 13.5, episodic algorithm).

At each step ``t`` of an episode, ``I = gamma^t``::

    delta = r_t + gamma v_hat(s_{t+1}) - v_hat(s_t)                 the critic's TD error (v_hat(terminal) = 0)
    z_w  <- gamma lambda_w z_w + x(s_t)                             critic trace (accumulating)
    z_th <- gamma lambda_th z_th + I d log pi(a_t|s_t) / d theta    actor trace
    w    <- w + alpha_w delta z_w;   theta <- theta + alpha delta z_th

Online (S&B's algorithm) the parameters change at every step; off-line (``online = False``) they are fixed during
the episode and the update is ``sum_t delta_t z_t``, which by the forward view equals
``sum_k gamma^k score_k sum_{t >= k} (gamma lambda_th)^(t - k) delta_t``. With ``lambda_th = 1`` this is REINFORCE
with the critic as baseline (unbiased whatever the critic); with ``lambda_th = 0`` the actor follows ``delta_t``,
whose mean given ``(s_t, a_t)`` is ``A_pi(s_t, a_t)`` only when ``v_hat = v_pi``: a TD(0) critic that has not
converged biases the estimate. ``alpha`` defaults to the run's SGD lr; ``critic_scale`` is ``alpha_w / alpha``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rl.mdp import softmax_policy
from bioplaus.rl.returns import discounted_returns
from bioplaus.rules.policy_gradient import PolicyGradientRule, discount_powers, score_sum
from bioplaus.rules.value_learning import successor_features


def _check_unit(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise BioplausError(f"rule 'actor_critic': {field} must be a number in [0, 1], got {value!r}.")
    return float(value)


def actor_critic_offline(w: Tensor, policy: Tensor, batch: Batch, lam_w: float, lam_theta: float) -> tuple[Tensor, Tensor, Tensor]:
    """Off-line actor-critic sums ``(sum_t delta_t z_w, sum_t delta_t z_theta, delta)``: ``(L, d)``, ``(L, S, A)``, ``(L, T)``."""
    ep, gamma = batch.episodes, batch.mdp.gamma
    x_next = successor_features(batch.mdp.features, ep.next_states)
    delta = (ep.rewards + gamma * torch.einsum("ltd,ld->lt", x_next, w) - torch.einsum("ltd,ld->lt", batch.x, w)) * ep.mask
    critic = torch.einsum("lt,ltd->ld", discounted_returns(delta, gamma * lam_w), batch.x)
    coef = discount_powers(ep.mask, gamma) * discounted_returns(delta, gamma * lam_theta)
    return critic, score_sum(coef, policy, ep.states, ep.actions), delta


def actor_critic_online(w: Tensor, logits: Tensor, batch: Batch, lam_w: float, lam_theta: float, alpha: float,
                        alpha_w: float) -> tuple[Tensor, Tensor, Tensor]:
    """S&B's online episodic actor-critic with traces over one episode per learner: ``(w_after, logits_after, delta)``."""
    ep, gamma = batch.episodes, batch.mdp.gamma
    x_next = successor_features(batch.mdp.features, ep.next_states)
    w, logits = w.clone(), logits.clone()
    z_w, z_th = torch.zeros_like(w), torch.zeros_like(logits)
    deltas = torch.zeros_like(ep.rewards)
    for t in range(ep.length):
        m = ep.mask[:, t]
        delta = (ep.rewards[:, t] + gamma * (w * x_next[:, t]).sum(-1) - (w * batch.x[:, t]).sum(-1)) * m
        z_w = gamma * lam_w * z_w + batch.x[:, t]
        step_score = score_sum((gamma**t * m).unsqueeze(1), softmax_policy(logits), ep.states[:, t : t + 1], ep.actions[:, t : t + 1])
        z_th = gamma * lam_theta * z_th + step_score
        w = w + alpha_w * delta.unsqueeze(-1) * z_w
        logits = logits + alpha * delta.view(-1, 1, 1) * z_th
        deltas[:, t] = delta
    return w, logits, deltas


class ActorCritic(PolicyGradientRule):
    """Actor-critic with eligibility traces. Args: ``lam_theta``, ``lam_w`` in ``[0, 1]``; ``online``; ``alpha`` (the
    actor's step size within episodes, ``None``: the run's SGD lr); ``critic_scale`` (``alpha_w / alpha``)."""

    name = "actor_critic"
    title = "actor-critic"
    colour = "#ff7f0e"

    def __init__(self, lam_theta: float = 0.0, lam_w: float = 0.0, online: bool = True, alpha: float | None = None,
                 critic_scale: float = 1.0, label: str | None = None):
        super().__init__(label)
        self.lam_theta, self.lam_w = _check_unit(lam_theta, "lam_theta"), _check_unit(lam_w, "lam_w")
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0):
            raise BioplausError(f"rule 'actor_critic': alpha must be a non-negative number or None, got {alpha!r}.")
        if isinstance(critic_scale, bool) or not isinstance(critic_scale, (int, float)) or critic_scale < 0:
            raise BioplausError(f"rule 'actor_critic': critic_scale must be a non-negative number, got {critic_scale!r}.")
        self.online, self.alpha, self.critic_scale = bool(online), alpha, float(critic_scale)
        self.lr: float | None = None
        self.td_errors: Tensor | None = None

    def bind_optimizer(self, optimizer: Any) -> None:
        name, kwargs = optimizer if isinstance(optimizer, tuple) else ("", {})
        if self.online and (name != "sgd" or kwargs.get("momentum", 0)):
            raise BioplausError(f"rule 'actor_critic' with online = True makes its own updates within each episode and needs "
                                f"plain SGD (optimizer = ('sgd', {{'lr': ...}})); got {name!r} {kwargs}. Use online = False otherwise.")
        self.lr = kwargs.get("lr")

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        w, logits = model.value.weight.detach(), model.policy.weight.detach()
        if not self.online:
            critic, actor, self.td_errors = actor_critic_offline(w, softmax_policy(logits), batch, self.lam_w, self.lam_theta)
            return {"value.weight": -self.critic_scale * critic, "policy.weight": -actor}
        alpha = self.alpha if self.alpha is not None else self.lr
        if alpha is None:
            raise BioplausError("rule 'actor_critic' has no step size: give alpha=..., or run it under an sgd optimizer.")
        lr = self.lr if self.lr is not None else (alpha or 1.0)
        w_after, logits_after, self.td_errors = actor_critic_online(w, logits, batch, self.lam_w, self.lam_theta, alpha,
                                                                    alpha * self.critic_scale)
        return {"value.weight": (w - w_after) / lr, "policy.weight": (logits - logits_after) / lr}

    def probe_values(self) -> dict[str, Any]:
        return {} if self.td_errors is None else {"td_error": self.td_errors}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "lam_theta": self.lam_theta, "lam_w": self.lam_w, "online": self.online,
                "alpha": self.alpha, "critic_scale": self.critic_scale}
