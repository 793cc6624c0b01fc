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
from torch import Tensor, nn

from bioplaus.errors import BioplausError, allowed
from bioplaus.core import Batch
from bioplaus.rules.base import Rule
from bioplaus.rules.ep_bptt_matching import gdu_rows
from bioplaus.rules.nudging import nudging_force

NUDGINGS = ("positive", "negative", "centered")


def check_choice(rule: str, field: str, value, options) -> None:
    if value not in options:
        raise BioplausError(f"rule {rule!r}: parameter '{field}' is {value!r}; allowed values are {allowed(options)}.")


class EquilibriumPropagation(Rule):
    """EP with nudging strength ``beta`` (> 0) and ``nudging`` one of ``positive, negative, centered``."""

    name = "equilibrium_propagation"
    title = "equilibrium propagation"
    colour = "#2ca02c"
    requires = frozenset({"torch", "energy"})

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

    #: measured at the initial weights instead of training: EP's first nudged updates against BPTT (Ernoult et al. 2019)
    initial_metrics = ("gdu_angle", "gdu_rel_error")
    initial_requires = frozenset({"energy:discrete"})

    def initial_rows(self, model: nn.Module, batch: Batch, wanted: set[str]) -> list[tuple[int, str, str, float]]:
        """``(t, metric, layer, value)`` rows of the EP/BPTT step-by-step comparison on ``batch``
        (:func:`bioplaus.rules.ep_bptt_matching.gdu_rows`) over the model's ``nudged_max_steps``."""
        if self.random_sign:
            raise BioplausError(f"rule {self.name!r} (condition {self.label!r}): the gdu metrics compare EP with a fixed nudging "
                                "sign with BPTT; set random_sign=False.")
        beta = -self.beta if self.nudging == "negative" else self.beta
        rows = [row for row in gdu_rows(model, batch, beta, self.nudging == "centered", model.spec.nudged_max_steps)
                if row[1] in wanted]
        if "relax_steps" in wanted:  # the free phase the comparison relaxed, recorded at step 0 like training's
            log = model.record_state().get("relaxation_log", {})
            if "free" in log:
                rows.append((0, "relax_steps", "free", float(log["free"])))
        return rows

    def config(self) -> dict:
        return {**super().config(), "beta": self.beta, "nudging": self.nudging, "random_sign": self.random_sign}
