"""Feedback alignment (Lillicrap, Cownden, Tweed & Akerman 2016, Nat. Commun. 7:13276).

The error reaches hidden layers through fixed random matrices B in place of W^T:
``delta_{l-1} = (B_l delta_l) * f'(a_{l-1})`` (Lillicrap et al. 2016, Eq. in Fig. 1:
``dh_FA = B e``). The forward weights come to align with B^T, so the updates come to
align with backprop's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.rate.feedforward import ForwardPass
from bioplaus.rules.base import LayeredRule, Slope, glorot_bound, hidden_slopes, times, output_delta, uniform_matrix
from bioplaus.rules.wrap import wrapped_layers


def feedback_alignment_deltas(
    top_delta: Tensor, feedback: list[Tensor], slopes: list[Slope | Tensor]
) -> list[Tensor]:
    """Propagate the output delta ``(batch, n_L)`` down through feedback matrices.

    ``feedback[l]`` has the shape of ``W_{l+1}^T``, ``(n_l, n_{l+1})``, and ``slopes[l]``
    is ``f'(a_l)`` (a :class:`~bioplaus.rules.base.Slope` or a ``(batch, n_l)`` tensor) for
    the hidden layers ``l = 0 .. L-2``.
    Returns the deltas of all layers, output last.
    """
    deltas = [top_delta]
    for b, slope in zip(reversed(feedback), reversed(slopes)):
        deltas.append(times(slope, deltas[-1].mm(b.t())))
    return deltas[::-1]


class FeedbackAlignment(LayeredRule):
    """Fixed random feedback B_l (shape of W_l^T) for every layer above the first.

    Args:
        scale: entries of B are ``U(-scale, scale)``; ``None`` uses the Glorot bound
            ``sqrt(6 / (n_in + n_out))`` of each layer. Lillicrap et al. use
            ``U(-0.5, 0.5)`` on their linear task.
        label: condition name in a protocol (default ``feedback_alignment``).
    """

    name = "feedback_alignment"
    title = "feedback alignment"
    colour = "#d62728"

    def __init__(self, scale: float | None = None, label: str | None = None):
        super().__init__(label)
        self.scale = scale
        self.B: dict[str, Tensor] = {}

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.B = {}
        super().setup(model, generator)

    def setup_layers(self, model: nn.Module, generator: torch.Generator) -> None:
        for name in model.layer_names[1:]:
            w = model.linear(name).weight
            n_out, n_in = w.shape
            bound = self.scale if self.scale is not None else glorot_bound(n_in, n_out)
            self.B[name] = uniform_matrix((n_in, n_out), bound, generator, w)

    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor]:
        slopes = hidden_slopes(fp)
        return feedback_alignment_deltas(output_delta(fp), [self.B[n] for n in fp.layer_names[1:]], slopes)

    def feedback(self) -> dict[str, Tensor]:
        return dict(self.B)

    def feedback_targets(self, model: nn.Module) -> dict[str, Tensor]:
        if self.wrapped:
            return {name: layer.weight.detach() for name, layer in wrapped_layers(model).items()}
        return {name: model.linear(name).weight.detach().t() for name in self.B}

    # -- wrapped modules (bioplaus.wrap): B has the shape of W (a kernel for a convolution) --
    def init_layer_feedback(self, layer: nn.Module, generator: torch.Generator) -> Tensor:
        """A fixed random ``B`` of the layer's weight shape, ``U(-scale, scale)`` or the Glorot bound with receptive fields."""
        w = layer.weight
        receptive = w[0, 0].numel()
        bound = self.scale if self.scale is not None else glorot_bound(w.shape[1] * receptive, w.shape[0] * receptive)
        return uniform_matrix(tuple(w.shape), bound, generator, w)

    def layer_feedback(self, layer: nn.Module) -> Tensor:
        return layer.feedback_weight

    def attach(self, module: nn.Module, generator: torch.Generator) -> None:
        self.B = {name: layer.feedback_weight for name, layer in wrapped_layers(module).items()}

    def config(self) -> dict:
        return {**super().config(), "scale": self.scale}
