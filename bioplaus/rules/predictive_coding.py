"""Predictive coding by inference learning (Whittington & Bogacz 2017, "An Approximation of the Error
Backpropagation Algorithm in a Predictive Coding Network with Local Hebbian Synaptic Plasticity",
Neural Computation 29:1229-1262). Equation and section numbers of the papers cited in this
branch could not be checked against the papers here, so none are given.

Every hidden layer l = 1 .. L-1 of a layered net ``a_l = W_l f_{l-1}(a_{l-1}) + b_l`` gets value
nodes ``z_l`` (the pre-activations, ``(batch, n_l)``) and prediction errors
``eps_l = z_l - mu_l`` with ``mu_l = W_l f_{l-1}(z_{l-1}) + b_l`` (``f_0(z_0) = x``, the clamped input;
W&B 2017's model, with the nonlinearity on the presynaptic side). The energy of one sample is

    F = sum_{l<L} 1/2 |eps_l|^2 + beta * loss_n(f_L(mu_L), y)

(W&B 2017's energy with unit hidden variances; the output energy is the task's loss, weighted by the
output precision ``beta``; for squared error it is ``beta/2 |y - mu_L|^2``, W&B's clamped output
with variance 1/beta). Inference descends F in the value nodes,

    z_l <- z_l - gamma * (eps_l - f_l'(z_l) * (W_{l+1}^T eps_{l+1})),   eps_L = -beta dloss_n/da_L,

all layers at once, and the weights then follow the local Hebbian rule dW_l ~ eps_l f_{l-1}(z_{l-1})^T
(W&B 2017). In gradient units the estimate is ``-(1/(beta N)) eps_l^T f_{l-1}(z_{l-1})``: as
``beta -> 0`` with inference converged it tends to backprop's gradient (W&B 2017), with an error
of order ``beta``.

Everything here is batched over samples and units and runs without autograd for the known losses
(:func:`output_error`); ``W_1 x + b_1`` is computed once per batch (the input is clamped).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rate.feedforward import activate, activation_slope
from bioplaus.rules.base import Rule
from bioplaus.tasks.base import cross_entropy, squared_error
from bioplaus.tasks.one_hot import one_hot_squared_error


def output_error(loss_fn: Callable[[Tensor, Tensor], Tensor], output: Tensor, y: Tensor) -> Tensor:
    """``dloss_n/d output`` of each sample, ``(batch, n_L)``: ``N`` times the gradient of the batch-mean loss.

    Closed forms (no autograd) for :func:`~bioplaus.tasks.squared_error` (``output - y``),
    :func:`~bioplaus.tasks.cross_entropy` (``softmax(output) - onehot(y)``) and
    :func:`~bioplaus.tasks.one_hot_squared_error`; any other loss by autograd through the loss alone.
    """
    if loss_fn is squared_error:
        return output - y
    if loss_fn is cross_entropy:
        return torch.softmax(output, 1) - F.one_hot(y, output.shape[1]).to(output.dtype)
    if loss_fn is one_hot_squared_error:
        return output - F.one_hot(y, output.shape[1]).to(output.dtype)
    with torch.enable_grad():
        out = output.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_fn(out, y), out)
    return g * output.shape[0]


@dataclass
class PCNet:
    """A layered net's parameters as predictive coding reads them (detached): ``weights[l]`` ``(n_l, n_{l-1})``,
    ``biases[l]`` ``(n_l,)`` or ``None``, ``activations[l]`` the name of ``f_l``, output layer last."""

    weights: list[Tensor]
    biases: list[Tensor | None]
    activations: list[str]

    @classmethod
    def of(cls, model: nn.Module) -> PCNet:
        layers = [model.linear(n) for n in model.layer_names]
        return cls([layer.weight.detach() for layer in layers],
                   [None if layer.bias is None else layer.bias.detach() for layer in layers], list(model.activations))

    def cast(self, batch) -> tuple[Tensor, Tensor]:
        """The batch's inputs, and its targets when they are floats, in the weights' dtype (a float64 net on float32 data)."""
        dtype = self.weights[0].dtype
        return batch.x.to(dtype), batch.y.to(dtype) if batch.y.is_floating_point() else batch.y

    def predict(self, l: int, below: Tensor) -> Tensor:
        """``mu_l = W_l below + b_l`` for the presynaptic rates ``below`` ``(batch, n_{l-1})``."""
        b = self.biases[l]
        return below.mm(self.weights[l].t()) if b is None else torch.addmm(b, below, self.weights[l].t())


@dataclass
class PCState:
    """Value nodes and what they imply. ``z[l]``: hidden value nodes ``(batch, n_l)``, l = 0 .. L-2;
    ``rates[l]``: ``f_l(z_l)``; ``eps[l]``: prediction errors of every layer, ``eps[L-1] = -beta dloss_n/da_L``;
    ``output``: ``f_L(mu_L)``; ``mu0``: the cached ``W_1 x + b_1``."""

    z: list[Tensor]
    rates: list[Tensor]
    eps: list[Tensor]
    output: Tensor
    mu0: Tensor


def feedforward_state(net: PCNet, x: Tensor, y: Tensor, loss_fn, beta: float) -> PCState:
    """Value nodes at the feedforward pass (every hidden ``eps_l = 0``), W&B 2017's initialisation."""
    mu0 = net.predict(0, x)
    z, h = [], x
    mu = mu0
    for l in range(len(net.weights) - 1):
        z.append(mu.clone())
        h = activate(net.activations[l], mu)
        mu = net.predict(l + 1, h)
    return settle(net, PCState(z, [], [], torch.empty(0), mu0), y, loss_fn, beta)


def settle(net: PCNet, s: PCState, y: Tensor, loss_fn, beta: float) -> PCState:
    """Recompute rates, predictions and errors from the value nodes ``s.z``."""
    acts = net.activations
    rates = [activate(acts[l], zl) for l, zl in enumerate(s.z)]
    eps = []
    below = s.mu0
    for l, zl in enumerate(s.z):
        eps.append(zl - below)
        below = net.predict(l + 1, rates[l])
    output = activate(acts[-1], below)
    top = output_error(loss_fn, output, y)
    if acts[-1] != "linear":
        top = top * activation_slope(acts[-1], below, output)
    eps.append(top.mul_(-beta))
    return PCState(s.z, rates, eps, output, s.mu0)


def energy(s: PCState, y: Tensor, loss_fn, beta: float) -> float:
    """The batch mean of ``F = sum_{l<L} 1/2 |eps_l|^2 + beta loss_n``."""
    n = s.output.shape[0]
    hidden = sum(float(e.square().sum()) for e in s.eps[:-1]) / (2 * n)
    return hidden + beta * float(loss_fn(s.output, y))


def energy_gradient(net: PCNet, s: PCState) -> list[Tensor]:
    """``dF/dz_l = eps_l - f_l'(z_l) * (eps_{l+1} W_{l+1})`` for every hidden layer, ``(batch, n_l)``."""
    return [s.eps[l] - activation_slope(net.activations[l], s.z[l], s.rates[l]) * s.eps[l + 1].mm(net.weights[l + 1])
            for l in range(len(s.z))]


def inference_step(net: PCNet, s: PCState, y: Tensor, loss_fn, beta: float, rate: float) -> PCState:
    """One synchronous gradient step of size ``rate`` on the value nodes (every layer from the same state)."""
    for zl, g in zip(s.z, energy_gradient(net, s)):
        zl.sub_(g, alpha=rate)
    return settle(net, s, y, loss_fn, beta)


def hebbian_estimate(s: PCState, x: Tensor, l: int, beta: float) -> tuple[Tensor, Tensor]:
    """Layer ``l``'s update in gradient units, ``(-(1/(beta N)) eps_l^T f_{l-1}(z_{l-1}), -(1/(beta N)) sum eps_l)``."""
    scale = -1.0 / (beta * x.shape[0])
    below = x if l == 0 else s.rates[l - 1]
    return s.eps[l].t().mm(below).mul_(scale), s.eps[l].sum(0).mul_(scale)


def as_estimate(model: nn.Module, updates: dict[int, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
    out = {}
    for l, name in enumerate(model.layer_names):
        dw, db = updates[l]
        out[f"layers.{name}.weight"] = dw
        if model.linear(name).bias is not None:
            out[f"layers.{name}.bias"] = db
    return out


class PredictiveCoding(Rule):
    """Inference learning: relax the value nodes for ``steps`` steps of size ``inference_rate``, then Hebbian updates.

    Args:
        inference_rate: gamma, the step on the value nodes (W&B 2017 use 0.1). The energy
            decreases at every step when it is below ``2 / Lip(grad F)``.
        steps: inference steps per batch (W&B 2017 use 20).
        output_precision: beta, the weight of the task loss in the energy; the estimate is
            divided by it, so small values give backprop's gradient in the limit.
    """

    name = "predictive_coding"
    title = "predictive coding"
    colour = "#17becf"
    requires = frozenset({"torch", "layered"})

    def __init__(self, inference_rate: float = 0.1, steps: int = 20, output_precision: float = 1.0, label: str | None = None):
        super().__init__(label)
        for field, value in (("inference_rate", inference_rate), ("output_precision", output_precision)):
            if not value > 0:
                raise BioplausError(f"rules.PredictiveCoding: field '{field}' must be a positive number, got {value!r}.")
        if not (isinstance(steps, int) and steps >= 0):
            raise BioplausError(f"rules.PredictiveCoding: field 'steps' must be a non-negative integer, got {steps!r}.")
        self.inference_rate, self.steps, self.output_precision = float(inference_rate), steps, float(output_precision)
        self.energies: list[float] = []

    def relax(self, model: nn.Module, batch) -> PCState:
        """The value nodes after ``steps`` inference steps from the feedforward pass; ``self.energies`` the energy at each."""
        net, beta = PCNet.of(model), self.output_precision
        x, y = net.cast(batch)
        s = feedforward_state(net, x, y, batch.loss_fn, beta)
        self.energies = [energy(s, y, batch.loss_fn, beta)]
        for _ in range(self.steps):
            s = inference_step(net, s, y, batch.loss_fn, beta, self.inference_rate)
            self.energies.append(energy(s, y, batch.loss_fn, beta))
        return s

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch) -> dict[str, Tensor]:
        s = self.relax(model, batch)
        x = batch.x.to(s.mu0.dtype)
        return as_estimate(model, {l: hebbian_estimate(s, x, l, self.output_precision) for l in range(len(s.eps))})

    def probe_values(self) -> dict[str, Any]:
        return {"energy": list(self.energies)}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "inference_rate": self.inference_rate, "steps": self.steps,
                "output_precision": self.output_precision}
