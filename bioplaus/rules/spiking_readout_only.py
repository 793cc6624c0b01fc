"""The read-out-only control for spiking networks: only the leaky read-out learns, the spiking layer stays at its initial weights."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.rules.base import Rule


class SpikingReadoutOnly(Rule):
    """Exact read-out gradient, zero for the spiking layer: a fixed random spiking reservoir.

    The control that shows learning the hidden layer is not free. With spiking read-out units (``output =
    "spike_count"``) the read-out's gradient is their surrogate gradient (:meth:`SpikingNet.readout_output`)."""

    name = "spiking_readout_only"
    title = "read-out only (spiking)"
    colour = "#7f7f7f"
    requires = frozenset({"torch", "spiking:torch"})

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        with torch.no_grad():
            z = model.trajectory(batch.x).z
        w_out, b_out = model.readout.weight, model.readout.bias
        out = model.readout_output(z)
        g_w, g_b = torch.autograd.grad(batch.loss(out), [w_out, b_out])
        grads = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
        grads.update({"readout.weight": g_w, "readout.bias": g_b})
        return grads
