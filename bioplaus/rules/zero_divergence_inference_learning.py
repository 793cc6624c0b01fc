"""Zero-divergence inference learning, Z-IL (Song, Lukasiewicz, Xu & Bogacz 2020, "Can the Brain Do
Backpropagation? Exact Implementation of Backpropagation in Predictive Coding Networks", NeurIPS 33).

Predictive coding (:mod:`bioplaus.rules.predictive_coding`) under the one schedule that makes its weight
updates equal backprop's exactly (Song et al. 2020, conditions C1-C3): the value nodes start at the
feedforward pass (every hidden error 0), the inference rate is ``gamma = 1``, the output energy is the
task loss itself (``beta = 1``; for softmax cross-entropy the cross-entropy), and layer l's weights
take their Hebbian update at inference step ``t = L - l`` (layers counted from the input, l = 1 .. L),
from ``eps_l`` and ``f_{l-1}(z_{l-1})`` at that step. At that step the error front has just reached
layer l: ``eps_l = -delta_l`` (backprop's per-sample delta) while every node below still holds its
feedforward value, so ``-(1/N) eps_l^T f_{l-1}(z_{l-1})`` is backprop's gradient, term for term.

No autograd: the output error is the loss's closed form (:func:`~bioplaus.rules.predictive_coding.output_error`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.rules.base import Rule
from bioplaus.rules.predictive_coding import (
    PCNet,
    as_estimate,
    energy,
    feedforward_state,
    hebbian_estimate,
    inference_step,
)


class ZeroDivergenceInferenceLearning(Rule):
    """Predictive coding with Z-IL's schedule: gamma = 1, W_l's update at inference step L - l (equals backprop)."""

    name = "zero_divergence_inference_learning"
    title = "Z-IL"
    colour = "#bcbd22"
    requires = frozenset({"torch", "layered"})

    def __init__(self, label: str | None = None):
        super().__init__(label)
        self.energies: list[float] = []

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch) -> dict[str, Tensor]:
        net = PCNet.of(model)
        x, y = net.cast(batch)
        s = feedforward_state(net, x, y, batch.loss_fn, 1.0)
        self.energies = [energy(s, y, batch.loss_fn, 1.0)]
        top = len(net.weights) - 1
        updates = {}
        for t in range(top + 1):
            updates[top - t] = hebbian_estimate(s, x, top - t, 1.0)
            if t < top:
                s = inference_step(net, s, y, batch.loss_fn, 1.0, 1.0)
                self.energies.append(energy(s, y, batch.loss_fn, 1.0))
        return as_estimate(model, updates)

    def probe_values(self) -> dict[str, Any]:
        return {"energy": list(self.energies)}
