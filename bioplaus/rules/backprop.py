"""Backpropagation: the exact gradient, and the reference every other rule is measured against."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.rate.feedforward import ForwardPass
from bioplaus.rules.base import Batch, LayeredRule


class Backprop(LayeredRule):
    """The exact gradient of the loss by autograd.

    On a layered network it asks autograd for dLoss/da_l at every pre-activation
    (from which ``dW_l = delta_l^T x_l``); on any other ``nn.Module`` it differentiates
    the loss with respect to the parameters directly.
    """

    name = "backprop"

    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor]:
        return list(torch.autograd.grad(fp.loss, fp.pre, retain_graph=True))

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        if hasattr(model, "forward_pass"):
            return super().estimate(model, batch)
        params = dict(model.named_parameters())
        grads = torch.autograd.grad(batch.loss(model(batch.x)), list(params.values()))
        return dict(zip(params, grads))
