"""Contrastive learning (contrastive Hebbian learning; Movellan 1991, "Contrastive Hebbian
learning in the continuous Hopfield model"; "CL" in Scellier, Ernoult, Kendall & Kumar 2023).

Free phase: relax with the input clamped. Clamped phase: from the free fixed point, clamp
the output to the target ``y`` and relax the hidden layers. The update lowers the energy
of the clamped configuration and raises that of the free one:
``estimate = dE/dtheta(s^clamped) - dE/dtheta(s^free)`` (Scellier et al. 2023). It is
not the gradient of the loss in general; as a descent direction it is used like one.
"""

from __future__ import annotations

from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.rules.base import Rule
from bioplaus.rules.nudging import output_target


class ContrastiveLearning(Rule):
    """CL on any model with ``free_phase``, ``nudged_phase(clamp=...)`` and ``energy_contrast``."""

    name = "contrastive_learning"
    title = "contrastive Hebbian learning"
    colour = "#1f77b4"
    requires = frozenset({"torch", "energy"})

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        free = model.free_phase(batch.x)
        target = output_target(batch, free.state[-1].shape[1], free.state[-1].dtype)
        clamped = model.nudged_phase(batch.x, free.state, clamp=target, phase="clamped")
        return model.energy_contrast(clamped.state, free.state, batch.x, 1.0)
