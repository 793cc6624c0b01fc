"""Shallow learning: only the read-out layer learns (the baseline of Lillicrap et al. 2016)."""

from __future__ import annotations

from torch import Tensor, nn

from bioplaus.rate.feedforward import ForwardPass
from bioplaus.rules.base import LayeredRule, output_delta


class Shallow(LayeredRule):
    """The exact gradient for the output layer and zero for every hidden layer.

    Lillicrap et al. (2016) use it as the lower bound: errors adjust only the final
    layer, so hidden layers keep their random initial features.
    """

    name = "shallow"
    requires = frozenset({"torch", "layered"})  # per-layer deltas only: it has no backward pass to give wrapped layers
    title = "shallow"
    colour = "#7f7f7f"

    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor | None]:
        return [None] * (len(fp.pre) - 1) + [output_delta(fp)]
