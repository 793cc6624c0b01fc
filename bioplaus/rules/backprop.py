"""Backpropagation: the exact gradient, and the reference every other rule is measured against."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.core import Batch, autograd_gradient
from bioplaus.rate.feedforward import ForwardPass
from bioplaus.rules.base import LayeredRule, hidden_slopes, output_delta


class Backprop(LayeredRule):
    """The exact gradient of the model's loss: whatever the model says "exact" means.

    It applies ``model.reference_gradient(batch)``: backprop through the layers of a
    feedforward net or a convnet, implicit differentiation at the fixed point of an
    energy net, BPTT through a recurrent net. A plain ``nn.Module`` without a reference
    gradient is differentiated by autograd (with any wrapped layer exact). On a layered
    network it also gives the per-layer deltas ``dLoss/da_l``, so the alignment metrics
    compare it with other layered rules through ``(batch, n)`` factors.
    """

    name = "backprop"
    title = "backprop"
    colour = "#222222"
    requires = frozenset({"torch"})

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        """Nothing to set up: the exact gradient needs no state, and a module is not wrapped for it."""

    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor]:
        return list(torch.autograd.grad(fp.loss, fp.pre, retain_graph=True))

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        reference = getattr(model, "reference_gradient", None)
        return reference(batch) if reference is not None else autograd_gradient(model, batch)

    def init_layer_feedback(self, layer: nn.Module, generator: torch.Generator) -> None:
        """Under :func:`bioplaus.wrap` backprop keeps no feedback weights: ``B`` is ``W`` itself."""
        return None

    def layer_feedback(self, layer: nn.Module) -> Tensor:
        return layer.weight.detach()


def BPTT(label: str | None = None) -> Backprop:
    """Backpropagation through time (Werbos 1990): on a recurrent model the exact gradient *is* BPTT, so this is
    :class:`Backprop` under the condition name ``bptt``."""
    return Backprop(label=label or "bptt")


#: other names of the exact gradient, for the rule index (:func:`bioplaus.rules.registry.rule_index`)
RULE_ALIASES = {"bptt": "BPTT"}


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
