"""Simplified difference target propagation, SDTP, and its auxiliary-output variant AO-SDTP (Bartunov,
Santoro, Richards, Marris, Hinton & Lillicrap 2018, "Assessing the Scalability of Biologically-Motivated
Deep Learning Algorithms and Architectures", NeurIPS 31, arXiv:1807.04587).

DTP (:mod:`bioplaus.rules.difference_target_propagation`) still takes one gradient: the penultimate
layer's target. SDTP removes it: the output target is the label itself, ``rhat_L = argmin_r loss(r)``
(the one-hot label for a softmax read-out), and the penultimate target comes through the learned inverse
of the output layer with the difference correction::

    hhat_{L-1} = h_{L-1} + g_L(rhat_L) - g_L(r_L),

the rest as in DTP; the output layer learns from the task loss. Estimates are the deltas
``(h_l - hhat_l) f_l'(a_l) / N`` (no step size to divide by). With exact inverses of a linear
invertible network under squared error ``hhat_l - h_l = (dh_L/dh_l)^-1 (y - h_L)``.

A one-hot target carries little information about the input, so all inputs of one class get nearly the
same penultimate target. AO-SDTP (``aux_output > 0``) appends auxiliary output units
``z = tanh(A h_{L-1})`` (A fixed, random) to what the top inverse reads, with the units' own values as
their target: ``r_L = [p, z]``, ``rhat_L = [onehot(y), z]``. (Bartunov et al. describe auxiliary outputs
whose target is their own value; how their auxiliary units were computed and how many there were could
not be retrieved here: the fixed random tanh projection is this package's choice.)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rate.feedforward import ForwardPass, activate
from bioplaus.rules.difference_target_propagation import (
    DifferenceTargetPropagation,
    label_target,
)
from bioplaus.tasks.base import cross_entropy


class SimplifiedDTP(DifferenceTargetPropagation):
    """DTP without a gradient: the label is the output target, the penultimate target comes through g_L.

    Args:
        aux_output: auxiliary output units for the top inverse (AO-SDTP); 0 for plain SDTP.
        noise, inverse_lr, schedule, epoch_batches: as for :class:`DifferenceTargetPropagation`.
        denoise: de-noising inverse training (True, Bartunov et al.'s choice for SDTP and AO-SDTP, Sec. 5.1).
    """

    name = "simplified_dtp"
    title = "SDTP"
    colour = "#8c564b"

    def __init__(self, aux_output: int = 0, noise: float = 0.1, inverse_lr: float = 1e-3, schedule: str = "parallel",
                 epoch_batches: int | None = None, denoise: bool = True, label: str | None = None):
        super().__init__(target_step=1.0, noise=noise, inverse_lr=inverse_lr, schedule=schedule, gradient_target="output",
                         epoch_batches=epoch_batches, denoise=denoise, label=label)
        if not (isinstance(aux_output, int) and not isinstance(aux_output, bool) and aux_output >= 0):
            raise BioplausError(f"rules.SimplifiedDTP: field 'aux_output' must be a non-negative integer (units), got {aux_output!r}.")
        self.aux_output = aux_output
        self.A: Tensor | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        super().setup(model, generator)
        self.A = None
        if self.aux_output:
            w = model.linear(model.layer_names[-2]).weight
            n = w.shape[0]
            bound = math.sqrt(6.0 / (n + self.aux_output))
            a = (torch.rand((self.aux_output, n), generator=generator, dtype=torch.float64) * 2 - 1) * bound
            self.A = a.to(dtype=w.dtype, device=w.device)

    def inverse_input_size(self, model: nn.Module, i: int) -> int:
        n = super().inverse_input_size(model, i)
        return n + self.aux_output if i == len(model.layer_names) - 1 else n

    def top_target(self, model: nn.Module, fp: ForwardPass, weights: list[Tensor]) -> tuple[int, Tensor, Tensor, bool]:
        """The label as the output target; no gradient anywhere (Bartunov et al. 2018)."""
        r, rhat = label_target(fp)
        if self.A is not None:
            z = torch.tanh(fp.post[-2].detach().mm(self.A.t()))
            r, rhat = torch.cat([r, z], 1), torch.cat([rhat, z], 1)
        return len(weights) - 1, r, rhat, False

    def delta_scale(self) -> float:
        return 1.0

    def layer_forward(self, activations: list[str], weights: list[Tensor], biases: list[Tensor | None], i: int,
                      h_below: Tensor, fp: ForwardPass) -> Tensor:
        """For the output layer: what its inverse reads (softmax probabilities under cross-entropy, and the auxiliary units)."""
        out = super().layer_forward(activations, weights, biases, i, h_below, fp)
        if i < len(weights) - 1:
            return out
        if fp.loss_fn is cross_entropy:
            out = torch.softmax(out, 1)
        return out if self.A is None else torch.cat([out, activate("tanh", h_below.mm(self.A.t()))], 1)

    def config(self) -> dict[str, Any]:
        config = super().config()
        del config["target_step"], config["gradient_target"]
        return {**config, "aux_output": self.aux_output}
