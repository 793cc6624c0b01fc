"""Truncated surrogate BPTT for spiking networks: the gradient through at most ``k`` steps of the neurons' state.

The spiking layer's state (synaptic current, membrane, adaptation; :mod:`bioplaus.snn.lif`) is cut from
the graph at steps ``k, 2k, ...`` (non-overlapping windows, Williams & Peng 1990's truncation as the
rate rule :class:`bioplaus.rules.truncated_bptt.TruncatedBPTT` does it), so credit reaches a weight only
through the state of the window it acted in. The leaky read-out is not truncated: its filter is
differentiated exactly, as e-prop's read-out-filtered traces do. With ``k >= T`` it is surrogate BPTT
(tested).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rules.base import Rule


class SpikingTruncatedBPTT(Rule):
    """Surrogate BPTT with the spiking layer's state cut from the graph every k steps (truncated BPTT)."""

    name = "spiking_truncated_bptt"
    title = "truncated BPTT (spiking)"
    colour = "#ff7f0e"
    requires = frozenset({"torch", "spiking:torch"})

    def __init__(self, k: int = 10, label: str | None = None):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BioplausError(f"rule {self.name!r}: k is {k!r}; allowed values are a positive number of time steps.")
        super().__init__(label)
        self.k = k

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        z = model.trajectory(batch.x, detach_every=self.k).z
        out = model.readout_output(z)
        params = dict(model.named_parameters())
        grads = torch.autograd.grad(batch.loss(out), list(params.values()), allow_unused=True)
        return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params.items(), grads)}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "k": self.k}
