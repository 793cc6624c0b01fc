"""Truncated backpropagation through time over non-overlapping windows of ``k`` steps.

The state is carried forward across windows but the backward pass stops at each
window's first state ``h_0, h_k, h_2k, ...`` (Williams & Peng 1990's BPTT(k, k); the
truncation whose bias Tallec & Ollivier 2018 and Jaderberg et al. 2017 discuss):
``L_t`` only credits the parameters through the steps of its own window. With
``k >= T`` it is BPTT.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.core import Batch
from bioplaus.rules.online import RecurrentRule, autograd_estimate


class TruncatedBPTT(RecurrentRule):
    """BPTT truncated to non-overlapping windows of ``k`` (``k_trunc``) steps."""

    name = "truncated_bptt"
    requires = frozenset({"torch", "recurrent"})
    title = "truncated BPTT"
    colour = "#ff7f0e"

    def __init__(self, k: int = 5, label: str | None = None):
        if not isinstance(k, int) or k < 1:
            raise BioplausError(f"rule 'truncated_bptt': k must be a positive integer, got {k!r}.")
        super().__init__(label)
        self.k = k

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        return autograd_estimate(model, batch.loss(model.readout(model.states(batch.x, detach_every=self.k))))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "k": self.k}
