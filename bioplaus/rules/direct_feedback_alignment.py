"""Direct feedback alignment (Nøkland 2016, "Direct Feedback Alignment Provides Learning
in Deep Neural Networks", NeurIPS 29).

The output error ``e = dLoss/da_L`` goes straight to every hidden layer through a
fixed random matrix: ``delta_l = (B_l e) * f'(a_l)`` (Nøkland 2016, Eq. for DFA in
Sec. 2). B_l stands in for ``(W_L ... W_{l+1})^T``, the linearised path from hidden
layer l to the output; with one hidden layer DFA is feedback alignment.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from bioplaus.rate.feedforward import ForwardPass
from bioplaus.rules.base import LayeredRule, Slope, hidden_slopes, times, output_delta, uniform_matrix


def direct_feedback_deltas(error: Tensor, feedback: list[Tensor], slopes: list[Slope | Tensor]) -> list[Tensor]:
    """Deltas of all layers from the output error ``(batch, n_L)``.

    ``feedback[l]`` is ``(n_l, n_L)`` and ``slopes[l]`` is ``f'(a_l)`` for hidden layer ``l``
    (a :class:`~bioplaus.rules.base.Slope` or a ``(batch, n_l)`` tensor).
    """
    return [times(s, error.mm(b.t())) for b, s in zip(feedback, slopes)] + [error]


class DirectFeedbackAlignment(LayeredRule):
    """Fixed random B_l of shape ``(n_l, n_L)`` for every hidden layer l.

    Results are stored under the name of the forward layer just above l (whose
    ``W^T`` the feedback stands in for in FA), so FA and DFA line up layer by layer.

    Args:
        scale: entries of B are ``U(-scale, scale)``; ``None`` uses ``1/sqrt(n_l)``, the
            automatic scale of Nøkland's reference implementation.
    """

    name = "direct_feedback_alignment"
    title = "direct feedback alignment"
    colour = "#1f77b4"
    direct_feedback = True  # under bioplaus.wrap: the output error reaches every wrapped layer directly

    def __init__(self, scale: float | None = None, label: str | None = None):
        super().__init__(label)
        self.scale = scale
        self.B: dict[str, Tensor] = {}

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.B = {}
        super().setup(model, generator)

    def setup_layers(self, model: nn.Module, generator: torch.Generator) -> None:
        names = model.layer_names
        n_top = model.linear(names[-1]).weight.shape[0]
        self.B = {}
        for lower, upper in zip(names[:-1], names[1:]):
            w = model.linear(lower).weight
            n_l = w.shape[0]
            bound = self.scale if self.scale is not None else 1.0 / math.sqrt(n_l)
            self.B[upper] = uniform_matrix((n_l, n_top), bound, generator, w)

    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor]:
        slopes = hidden_slopes(fp)
        return direct_feedback_deltas(output_delta(fp), [self.B[n] for n in fp.layer_names[1:]], slopes)

    def feedback(self) -> dict[str, Tensor]:
        return dict(self.B)

    def feedback_targets(self, model: nn.Module) -> dict[str, Tensor]:
        """``(W_L ... W_{l+1})^T`` for each hidden layer l, keyed by the layer above it.

        A linearised target: exact only for linear networks. Wrapped modules have no
        such target (the path from a layer to the output runs through pooling and
        reshapes), so they report no feedback metrics.
        """
        if self.wrapped:
            return {}
        names = model.layer_names
        out = {}
        for i in range(1, len(names)):
            prod = model.linear(names[-1]).weight.detach()
            for name in reversed(names[i:-1]):
                prod = prod.mm(model.linear(name).weight.detach())
            out[names[i]] = prod.t()
        return out

    def init_direct_feedback(self, n_out: int, n_in: int, weight: Tensor, generator: torch.Generator) -> Tensor:
        """``B_k`` of shape ``(n_out, n_in)`` for a wrapped layer whose input has ``n_in`` elements.

        Entries ``U(-scale, scale)``, by default ``1/sqrt(n_in)`` (as ``1/sqrt(n_l)`` above).
        """
        bound = self.scale if self.scale is not None else 1.0 / math.sqrt(n_in)
        return uniform_matrix((n_out, n_in), bound, generator, weight)

    def config(self) -> dict:
        return {**super().config(), "scale": self.scale}
