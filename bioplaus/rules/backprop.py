"""Backpropagation: the exact gradient, and the reference every other rule is measured against."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.rate.feedforward import ForwardPass
from bioplaus.core import Batch
from bioplaus.rules.base import LayeredRule, hidden_slopes, output_delta


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
        from bioplaus.rate.wrap import exact_gradients

        params = dict(model.named_parameters())
        with exact_gradients(model):  # a module wrapped with bioplaus.wrap backpropagates exactly here
            grads = torch.autograd.grad(batch.loss(model(batch.x)), list(params.values()))
        return dict(zip(params, grads))

    def init_layer_feedback(self, layer: nn.Module, generator: torch.Generator) -> None:
        """Under :func:`bioplaus.wrap` backprop keeps no feedback weights: ``B`` is ``W`` itself."""
        return None

    def layer_feedback(self, layer: nn.Module) -> Tensor:
        return layer.weight.detach()

def chain_rule_deltas(model: nn.Module, fp: ForwardPass) -> list[Tensor]:
    """The exact deltas of a layered network by the chain rule written out, for metrics.

    ``delta_L = dLoss/da_L`` (autograd through the loss alone) and
    ``delta_l = (delta_{l+1} W_{l+1}) * f'(a_l)``. Equal to :meth:`Backprop.deltas`
    (which asks autograd for every layer; tested), but it shares the output delta and
    slopes a rule already computed on ``fp``, so an ``update_angle`` costs one product
    per layer instead of a second backward pass.
    """
    deltas = [output_delta(fp)]
    for name, slope in zip(reversed(fp.layer_names[1:]), reversed(hidden_slopes(fp))):
        deltas.append(slope(deltas[-1].mm(model.linear(name).weight.detach())))
    return deltas[::-1]
