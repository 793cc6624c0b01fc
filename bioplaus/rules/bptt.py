"""Backpropagation through time (Werbos 1990): the exact gradient of the whole sequence's loss.

The reference every recurrent metric is measured against. Autograd through
:meth:`bioplaus.rate.recurrent.RecurrentNet.forward`, i.e. ``dL/dW = sum_t delta_t^T z_t``
with ``delta_t = dL/da_t`` propagated backwards from the end of the sequence.
"""

from __future__ import annotations

from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.rules.online import RecurrentRule, autograd_estimate


class BPTT(RecurrentRule):
    """Exact full-sequence gradient by backpropagation through time."""

    name = "bptt"
    vanilla_only = False

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        return autograd_estimate(model, batch.loss(model(batch.x)))
