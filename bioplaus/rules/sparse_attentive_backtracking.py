"""Sparse attentive backtracking, SAB (Ke et al., NeurIPS 2018, Algorithm 1).

On an LSTM with a sparse attentive memory (``cell = "lstm"``, ``k_att``, ``k_top`` in the
model spec; :mod:`bioplaus.rate.lstm`), the backward pass is truncated to ``k_trunc`` local
steps (windows ``h_0, h_k, h_2k, ...`` as in :mod:`bioplaus.rules.truncated_bptt`) but the
memories keep their graph: credit reaches the past only through the ``k_top`` memories each
step attends to, and from each attended memory back through its own local window. With
``k_trunc >= T`` it is BPTT of the same model; without memory (``k_top = 0``) it is
truncated BPTT of the LSTM.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.core import Batch
from bioplaus.rules.online import RecurrentRule, autograd_estimate


class SparseAttentiveBacktracking(RecurrentRule):
    """Truncated BPTT of ``k_trunc`` local steps plus backtracking through the attended memories."""

    name = "sparse_attentive_backtracking"
    title = "SAB"
    colour = "#393b79"
    requires = frozenset({"torch", "recurrent", "recurrent:sparse_attention"})

    def __init__(self, k_trunc: int = 5, label: str | None = None):
        if not isinstance(k_trunc, int) or k_trunc < 1:
            raise BioplausError(f"rule 'sparse_attentive_backtracking': k_trunc must be a positive integer, got {k_trunc!r}.")
        super().__init__(label)
        self.k_trunc = k_trunc

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        return autograd_estimate(model, batch.loss(model.readout(model.states(batch.x, detach_every=self.k_trunc))))

    def config(self) -> dict[str, Any]:
        return {**super().config(), "k_trunc": self.k_trunc}
