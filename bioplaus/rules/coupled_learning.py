"""Coupled learning (Stern, Hexner, Rocks & Liu 2021, "Supervised learning in physical
networks: from machine learning to learning machines", Phys. Rev. X 11:021045).

Free phase: relax with the input clamped, output ``o_F``. Clamped phase: from the free
fixed point, clamp the output a fraction ``eta`` of the way toward the target,
``o_C = o_F + eta (y - o_F)`` (Stern et al. 2021) and relax the hidden layers. In
gradient units the estimate is ``(dE/dtheta(s^C) - dE/dtheta(s^F)) / eta`` (their learning
rule ``-alpha/eta (dE_C/dtheta - dE_F/dtheta)``). Variants of Scellier, Ernoult, Kendall &
Kumar 2023: ``nudging="positive"`` ("PCpL", the original), ``"negative"`` ("NCpL",
``o_F - eta (y - o_F)``, divided by ``-eta``) and ``"centered"`` ("CCpL",
``(E_theta(s^{+eta}) - E_theta(s^{-eta})) / (2 eta)``).
"""

from __future__ import annotations

from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.core import Batch
from bioplaus.rules.base import Rule
from bioplaus.rules.equilibrium_propagation import NUDGINGS, check_choice
from bioplaus.rules.nudging import output_target


class CoupledLearning(Rule):
    """CpL with clamping fraction ``eta`` in (0, 1] and ``nudging`` one of ``positive, negative, centered``."""

    name = "coupled_learning"
    title = "coupled learning"
    colour = "#9467bd"
    requires = frozenset({"torch", "energy"})

    def __init__(self, eta: float = 0.1, nudging: str = "positive", label: str | None = None):
        super().__init__(label)
        check_choice(self.name, "nudging", nudging, NUDGINGS)
        if not 0 < eta <= 1:
            raise BioplausError(f"rule {self.name!r}: parameter 'eta' must be in (0, 1], got {eta!r}.")
        self.eta, self.nudging = float(eta), nudging

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        free = model.free_phase(batch.x)
        o = free.state[-1]
        y = output_target(batch, o.shape[1], o.dtype)

        def clamped(eta: float, phase: str) -> list[Tensor]:
            return model.nudged_phase(batch.x, free.state, clamp=o + eta * (y - o), phase=phase).state

        if self.nudging == "centered":
            plus, minus = clamped(self.eta, "clamped"), clamped(-self.eta, "clamped_negative")
            return model.energy_contrast(plus, minus, batch.x, 2 * self.eta)
        eta = self.eta if self.nudging == "positive" else -self.eta
        return model.energy_contrast(clamped(eta, "clamped"), free.state, batch.x, eta)

    def config(self) -> dict:
        return {**super().config(), "eta": self.eta, "nudging": self.nudging}
