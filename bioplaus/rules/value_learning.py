"""What the rules that learn an agent's value function share: step size, the optimizer they run under, the TD errors.

A value rule (TD(lambda), true online TD(lambda), the lambda-return algorithm) makes its updates
*within* an episode, at each time step with its step size ``alpha`` (Sutton & Barto 2018, ch. 12),
on every learner at once. The run loop applies one update per batch of episodes, so the rule
returns the episode's total weight change ``Delta w`` in gradient units, ``-Delta w / lr``, where
``lr`` is the run's SGD step size: the optimizer's step then moves ``w`` by exactly ``Delta w``.
``alpha = None`` uses ``lr`` itself, so ``-Delta w / lr`` is ``-sum_t delta_t z_t`` for offline
updates, the semi-gradient of the value error. Parameters other than the value weights (the
policy) get a zero estimate. The TD errors ``delta_t`` ``(L, T)`` of the last episode batch, the
model of phasic dopamine (Schultz, Dayan & Montague 1997), are ``probe_values()["td_error"]``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rules.base import Rule


class ValueRule(Rule):
    """Base of the value-learning rules: subclasses implement :meth:`episode_update`."""

    requires = frozenset({"torch", "value_function"})

    def __init__(self, alpha: float | None = None, label: str | None = None):
        super().__init__(label)
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0):
            raise BioplausError(f"rule {self.name!r}: alpha (the step size within episodes) must be a non-negative number "
                                f"or None (the run's SGD lr), got {alpha!r}.")
        self.alpha = None if alpha is None else float(alpha)
        self.lr: float | None = None
        self.td_errors: Tensor | None = None

    def bind_optimizer(self, optimizer: Any) -> None:
        name, kwargs = optimizer if isinstance(optimizer, tuple) else (type(optimizer).__name__.lower(), optimizer.defaults)
        if name != "sgd" or kwargs.get("momentum", 0) or kwargs.get("weight_decay", 0):
            raise BioplausError(f"rule {self.name!r} makes its own updates within each episode and needs plain SGD "
                                f"(optimizer = ('sgd', {{'lr': ...}}) without momentum or weight decay); got {name!r} {kwargs}.")
        self.lr = float(kwargs["lr"])

    def step_size(self) -> tuple[float, float]:
        """``(alpha, lr)``: the step size within episodes and the run's SGD lr the estimate is divided by."""
        alpha = self.alpha if self.alpha is not None else self.lr
        if alpha is None:
            raise BioplausError(f"rule {self.name!r} has no step size: give alpha=..., or run it under an sgd optimizer.")
        return alpha, (self.lr if self.lr is not None else (alpha or 1.0))

    def episode_update(self, w: Tensor, features: Tensor, batch: Batch, alpha: float) -> tuple[Tensor, Tensor]:
        """``(w_after, td_errors)``: the weights ``(L, d)`` after the batch's episodes and the TD errors ``(L, T)``."""
        raise NotImplementedError

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        alpha, lr = self.step_size()
        w = model.value.weight.detach()
        w_after, self.td_errors = self.episode_update(w, batch.mdp.features, batch, alpha)
        out = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
        out["value.weight"] = (w - w_after) / lr
        return out

    def probe_values(self) -> dict[str, Any]:
        return {} if self.td_errors is None else {"td_error": self.td_errors}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "alpha": self.alpha}


def successor_features(features: Tensor, next_states: Tensor) -> Tensor:
    """``x(s_{t+1})`` ``(L, T, d)`` with the terminal state's features 0 (its value is 0 by definition)."""
    padded = torch.cat([features, torch.zeros_like(features[:1])])
    return padded[next_states]
