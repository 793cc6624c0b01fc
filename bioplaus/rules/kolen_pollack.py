"""Kolen-Pollack learning of the feedback path (Kolen & Pollack 1994, as adapted by Akrout,
Wilson, Humphreys, Lillicrap & Tweed 2019, "Deep Learning without Weight Transport",
NeurIPS 32, arXiv:1904.05391).

The error goes down through feedback weights B as in feedback alignment, but B learns:
it receives the same update as ``W^T``, each with its own weight decay (Akrout et al.
2019, Eqs. 16-17, for a layer with input x and error delta)::

    dW = -eta delta x^T - lambda W,        dB = -eta x delta^T - lambda B.

The difference then shrinks geometrically, ``W_{t+1} - B_{t+1}^T = (1 - eta lambda)(W_t - B_t^T)``
under plain SGD, so B converges to ``W^T`` from any start and the updates converge to
backprop's. Here B learns through :meth:`update_feedback`, called after the
optimizer's step, by an optimizer of the same class and settings as the forward
weights' (learning rate, momentum, weight decay) fed with the transposed estimate of
W's gradient. Without weight decay in the optimizer ``W - B^T`` stays constant:
Kolen-Pollack needs ``weight_decay > 0``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rules.base import is_layered
from bioplaus.rules.feedback_alignment import FeedbackAlignment


def _build(cls: type, kwargs: dict[str, Any], params: list[Tensor]) -> torch.optim.Optimizer:
    return cls(params, **kwargs)


def _build_named(spec: tuple[str, dict[str, Any]], params: list[Tensor]) -> torch.optim.Optimizer:
    from bioplaus.train import make_optimizer

    return make_optimizer(spec, params)


def optimizer_factory(optimizer: tuple[str, dict[str, Any]] | torch.optim.Optimizer) -> Callable[[list[Tensor]], torch.optim.Optimizer]:
    """A (picklable) function that builds an optimizer like ``optimizer`` (same class and settings) over other tensors."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return partial(_build, type(optimizer), dict(optimizer.defaults))
    name, kwargs = optimizer
    return partial(_build_named, (name, dict(kwargs)))


class KolenPollack(FeedbackAlignment):
    """Feedback alignment whose B learns the forward weights' updates (Akrout et al. 2019).

    B starts random (as in :class:`FeedbackAlignment`, ``scale`` sets its range) and is
    state of the rule (layered networks, shape of ``W^T``) or a buffer of the wrapped
    layer (:func:`bioplaus.wrap`, shape of ``W``).
    """

    name = "kolen_pollack"

    def __init__(self, scale: float | None = None, label: str | None = None):
        super().__init__(scale=scale, label=label)
        self._factory: Callable[[list[Tensor]], torch.optim.Optimizer] | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._weight_keys: dict[str, str] = {}

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self._optimizer = None
        super().setup(model, generator)
        if is_layered(model):
            self._weight_keys = {name: f"layers.{name}.weight" for name in self.B}

    def attach(self, module: nn.Module, generator: torch.Generator) -> None:
        super().attach(module, generator)
        from bioplaus.rate.wrap import wrapped_layers

        keys = {id(p): k for k, p in module.named_parameters()}
        self._weight_keys = {name: keys[id(layer.weight)] for name, layer in wrapped_layers(module).items()}
        self._optimizer = None

    def bind_optimizer(self, optimizer: tuple[str, dict[str, Any]] | torch.optim.Optimizer) -> None:
        self._factory = optimizer_factory(optimizer)
        self._optimizer = None

    def update_feedback(self, model: nn.Module, batch, estimate: dict[str, Tensor]) -> None:
        """Give each B the update of its forward weights: ``grad(B) = estimate(W)^T``, then step B's optimizer."""
        if self._factory is None:
            raise BioplausError("kolen_pollack: B learns with the forward weights' optimizer settings, but none were "
                                "given; the trainer gives them, and in your own loop pass the optimizer to "
                                "bioplaus.rate.wrap.update_feedback(module, optimizer).")
        if self._optimizer is None:
            self._optimizer = self._factory(list(self.B.values()))
        layered = is_layered(model)
        for name, b in self.B.items():
            g = estimate[self._weight_keys[name]].detach()
            b.grad = g.t() if layered else g
        self._optimizer.step()
        for b in self.B.values():
            b.grad = None

    def fresh(self) -> "KolenPollack":
        fresh = super().fresh()
        fresh._optimizer = None
        return fresh
