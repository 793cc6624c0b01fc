"""Backprop through the relaxation of an energy-based network (BPTT; "truncated backprop",
TBP, in Scellier, Ernoult, Kendall & Kumar 2023 when only the last steps are unrolled).

The free phase runs a fixed number of relaxation steps from the zero state; autograd
differentiates the loss of the final output state through the last ``truncate`` of them
(all when ``truncate`` is None). Through a relaxation that has converged this tends to the
implicit-differentiation gradient at the fixed point (``rules.Backprop`` on an
``EnergyNet``; Almeida 1987, Pineda 1987): each unrolled step adds one more term of the
Neumann series of ``(I - dstep/ds)^{-1}``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rate.energy import input_drive, relax, unrolled_output
from bioplaus.core import Batch
from bioplaus.rules.base import Rule


class BackpropThroughTime(Rule):
    """BPTT through ``steps`` relaxation steps (default: the model's ``max_steps``), the last ``truncate`` unrolled."""

    name = "backprop_through_time"
    title = "backprop through the relaxation"
    colour = "#ff7f0e"
    requires = frozenset({"torch", "energy"})

    def __init__(self, steps: int | None = None, truncate: int | None = None, label: str | None = None):
        super().__init__(label)
        if steps is not None and steps < 1 or truncate is not None and truncate < 1:
            raise BioplausError(f"rule {self.name!r}: 'steps' and 'truncate' must be positive integers, got {steps!r}, {truncate!r}.")
        self.steps, self.truncate = steps, truncate

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        x = model.cast(batch.x)
        steps = self.steps or model.spec.max_steps
        unrolled = min(self.truncate or steps, steps)
        c, dyn = model.couplings(), model.dynamics()
        start = model.zero_state(x.shape[0])
        if unrolled < steps:
            with torch.no_grad():
                start = relax(start, input_drive(x, c), c, dyn, 0.0, steps - unrolled).state
        out = unrolled_output(x, c, dyn, unrolled, start)
        params = dict(model.named_parameters())
        grads = torch.autograd.grad(batch.loss(out), list(params.values()))
        return dict(zip(params, grads))

    def config(self) -> dict:
        return {**super().config(), "steps": self.steps, "truncate": self.truncate}
