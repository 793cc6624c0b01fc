"""Kolen-Pollack learning of the feedback path (Kolen & Pollack 1994, as adapted by Akrout,
Wilson, Humphreys, Lillicrap & Tweed 2019, "Deep Learning without Weight Transport",
NeurIPS 32, arXiv:1904.05391).

The error goes down through feedback weights B as in feedback alignment, but B learns:
it receives the same update as ``W^T``, each with its own weight decay (Akrout et al.
2019, Eqs. 16-17, for a layer with input x and error delta)::

    dW = -eta delta x^T - lambda W,        dB = -eta x delta^T - lambda B.

The difference then shrinks geometrically, ``W_{t+1} - B_{t+1}^T = (1 - eta lambda)(W_t - B_t^T)``
under plain SGD, so B converges to ``W^T`` from any start and the updates converge to
backprop's. Here B learns through :meth:`after_step`, called after the
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
from bioplaus.rules.feedback_alignment import FeedbackAlignment
from bioplaus.optimizers import make_optimizer
from bioplaus.rules.wrap import wrapped_layers


def _build(cls: type, kwargs: dict[str, Any], params: list[Tensor]) -> torch.optim.Optimizer:
    return cls(params, **kwargs)


def _build_named(spec: tuple[str, dict[str, Any]], params: list[Tensor]) -> torch.optim.Optimizer:
    return make_optimizer(spec, params)


def optimizer_factory(optimizer: tuple[str, dict[str, Any]] | torch.optim.Optimizer) -> Callable[[list[Tensor]], torch.optim.Optimizer]:
    """A (picklable) function that builds an optimizer like ``optimizer`` (same class and settings) over other tensors."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return partial(_build, type(optimizer), dict(optimizer.defaults))
    name, kwargs = optimizer
    return partial(_build_named, (name, dict(kwargs)))


def _plain_sgd(optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """The settings of a ``torch.optim.SGD`` whose step :func:`sgd_step_` reproduces exactly; else ``None``."""
    if type(optimizer) is not torch.optim.SGD or len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    if group.get("maximize") or group.get("differentiable") or any(isinstance(group[k], Tensor) for k in ("lr", "weight_decay", "momentum")):
        return None
    return group


def sgd_step_(b: Tensor, grad: Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
    """One SGD step of ``b`` in place with ``grad`` (left untouched), as ``torch.optim.SGD`` takes it on
    the CPU, operation for operation: ``d = grad + wd b``; momentum ``v = mu v + (1 - dampening) d``
    (``v = d`` at the first step), ``d = v`` or, Nesterov, ``d + mu v``; ``b -= lr d``.
    ``state`` holds the momentum buffer (the optimizer's per-tensor state)."""
    lr, wd, mu = group["lr"], group["weight_decay"], group["momentum"]
    d = grad.add(b, alpha=wd) if wd != 0 else grad
    if mu != 0:
        v = state.get("momentum_buffer")
        if v is None:
            v = state["momentum_buffer"] = d.detach().clone()
        else:
            v.mul_(mu).add_(d, alpha=1 - group["dampening"])
        d = d.add(v, alpha=mu) if group["nesterov"] else v
    b.add_(d, alpha=-lr)


class KolenPollack(FeedbackAlignment):
    """Feedback alignment whose B learns the forward weights' updates (Akrout et al. 2019).

    B starts random (as in :class:`FeedbackAlignment`, ``scale`` sets its range) and is
    state of the rule (layered networks, shape of ``W^T``) or a buffer of the wrapped
    layer (:func:`bioplaus.wrap`, shape of ``W``).
    """

    name = "kolen_pollack"
    title = "Kolen-Pollack"
    colour = "#9467bd"

    def __init__(self, scale: float | None = None, label: str | None = None):
        super().__init__(scale=scale, label=label)
        self._factory: Callable[[list[Tensor]], torch.optim.Optimizer] | None = None
        self._optimizer: torch.optim.Optimizer | None = None
        self._weight_keys: dict[str, str] = {}

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self._optimizer = None
        super().setup(model, generator)
        if not self.wrapped:
            self._weight_keys = {name: f"layers.{name}.weight" for name in self.B}

    def attach(self, module: nn.Module, generator: torch.Generator) -> None:
        super().attach(module, generator)
        keys = {id(p): k for k, p in module.named_parameters()}
        self._weight_keys = {name: keys[id(layer.weight)] for name, layer in wrapped_layers(module).items()}
        self._optimizer = None

    def bind_optimizer(self, optimizer: tuple[str, dict[str, Any]] | torch.optim.Optimizer) -> None:
        self._factory = optimizer_factory(optimizer)
        self._optimizer = None

    def after_step(self, model: nn.Module, batch, estimate: dict[str, Tensor]) -> None:
        """Give each B the update of its forward weights: ``grad(B) = estimate(W)^T``, then step B's optimizer."""
        if self._factory is None:
            raise BioplausError("kolen_pollack: B learns with the forward weights' optimizer settings, but none were "
                                "given; the trainer gives them, and in your own loop pass the optimizer to "
                                "bioplaus.rules.wrap.update_feedback(module, optimizer).")
        if self._optimizer is None:
            self._optimizer = self._factory(list(self.B.values()))
        layered = not self.wrapped
        sgd = _plain_sgd(self._optimizer)
        with torch.no_grad():
            for name, b in self.B.items():
                g = estimate[self._weight_keys[name]].detach()
                g = g.t() if layered else g
                if sgd is not None:  # the same update without the optimizer's per-step machinery (a few % of a step)
                    sgd_step_(b, g, sgd, self._optimizer.state[b])
                else:
                    b.grad = g
        if sgd is None:
            self._optimizer.step()
            for b in self.B.values():
                b.grad = None

    def fresh(self) -> "KolenPollack":
        fresh = super().fresh()
        fresh._optimizer = None
        return fresh
