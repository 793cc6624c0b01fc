"""Equilibrium propagation (Scellier & Bengio 2017, "Equilibrium Propagation: Bridging the
Gap between Energy-Based Models and Backpropagation", Front. Comput. Neurosci. 11:24).

Free phase: relax to ``s^0`` with the input clamped. Nudged phase: from ``s^0``, relax the
total energy ``E + beta * l(s_L, y)`` to ``s^beta``. The estimate, in gradient units, is the
contrast of ``dE/dtheta`` between the two fixed points divided by beta (Scellier & Bengio
2017: ``dL/dtheta = lim_{beta->0} (dE/dtheta(s^beta) - dE/dtheta(s^0)) / beta``):

- ``nudging="positive"``: ``(E_theta(s^beta) - E_theta(s^0)) / beta`` (the original EP; "PEP"
  in Scellier, Ernoult, Kendall & Kumar 2023), bias O(beta);
- ``"negative"``: ``(E_theta(s^-beta) - E_theta(s^0)) / (-beta)`` ("NEP"), bias O(beta);
- ``"centered"``: ``(E_theta(s^beta) - E_theta(s^-beta)) / (2 beta)``, the symmetric nudging
  of Laborieux et al. 2021 (Front. Neurosci. 15:633674) ("CEP"), bias O(beta^2);
- ``random_sign=True`` (with a one-sided nudging): the sign of beta is drawn afresh for each
  estimate, which cancels the O(beta) bias on average (Scellier & Bengio 2017 used a
  random sign in their MNIST experiments; Laborieux et al. 2021 analyse the bias).

The rule works on any model with ``free_phase``, ``nudged_phase`` and ``energy_contrast``
``energy_contrast`` (:class:`bioplaus.rate.energy.EnergyNet`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bioplaus.errors import BioplausError, allowed
from bioplaus.core import Batch
from bioplaus.rules.base import Rule

NUDGINGS = ("positive", "negative", "centered")


def nudging_force(batch: Batch, beta: float):
    """``s_L -> -beta dl/ds_L``: the force of ``beta * l`` on the output, ``l`` = batch loss x batch size."""
    from bioplaus.tasks.base import squared_error
    from bioplaus.tasks.one_hot import one_hot_squared_error

    if batch.loss_fn is squared_error or batch.loss_fn is one_hot_squared_error:  # no autograd per relaxation step
        cache: dict[str, Tensor] = {}

        def squared_error_force(o: Tensor) -> Tensor:
            if "y" not in cache:
                cache["y"] = output_target(batch, o.shape[1], o.dtype)
            return beta * (cache["y"] - o)

        return squared_error_force

    def force(o: Tensor) -> Tensor:
        with torch.enable_grad():
            o = o.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(batch.loss_fn(o, batch.y) * o.shape[0], o)
        return -beta * g

    return force


def output_target(batch: Batch, n_out: int, dtype: torch.dtype) -> Tensor:
    """The output a clamped phase pins: ``y`` itself, or one-hot ``y`` for class indices ``(batch,)``."""
    if batch.y.dtype in (torch.int64, torch.int32, torch.long):
        return F.one_hot(batch.y, n_out).to(dtype)
    return batch.y.to(dtype)


def check_choice(rule: str, field: str, value, options) -> None:
    if value not in options:
        raise BioplausError(f"rule {rule!r}: parameter '{field}' is {value!r}; allowed values are {allowed(options)}.")


class EquilibriumPropagation(Rule):
    """EP with nudging strength ``beta`` (> 0) and ``nudging`` one of ``positive, negative, centered``."""

    name = "equilibrium_propagation"

    def __init__(self, beta: float = 0.1, nudging: str = "positive", random_sign: bool = False, label: str | None = None):
        super().__init__(label)
        check_choice(self.name, "nudging", nudging, NUDGINGS)
        if not beta > 0:
            raise BioplausError(f"rule {self.name!r}: parameter 'beta' must be positive, got {beta!r}.")
        if random_sign and nudging == "centered":
            raise BioplausError(f"rule {self.name!r}: random_sign needs a one-sided nudging ('positive' or 'negative').")
        self.beta, self.nudging, self.random_sign = float(beta), nudging, bool(random_sign)
        self.generator: torch.Generator | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator

    def signed_beta(self) -> float:
        sign = -1.0 if self.nudging == "negative" else 1.0
        if self.random_sign:
            gen = self.generator if self.generator is not None else torch.Generator().manual_seed(0)
            sign = 1.0 if int(torch.randint(2, (1,), generator=gen)) else -1.0
        return sign * self.beta

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        free = model.free_phase(batch.x)
        if self.nudging == "centered":
            plus = model.nudged_phase(batch.x, free.state, nudging_force(batch, self.beta), phase="nudged")
            minus = model.nudged_phase(batch.x, free.state, nudging_force(batch, -self.beta), phase="nudged_negative")
            return model.energy_contrast(plus.state, minus.state, batch.x, 2 * self.beta)
        beta = self.signed_beta()
        nudged = model.nudged_phase(batch.x, free.state, nudging_force(batch, beta), phase="nudged")
        return model.energy_contrast(nudged.state, free.state, batch.x, beta)

    def config(self) -> dict:
        return {**super().config(), "beta": self.beta, "nudging": self.nudging, "random_sign": self.random_sign}
