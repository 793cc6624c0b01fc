"""The weight mirror (Akrout, Wilson, Humphreys, Lillicrap & Tweed 2019, "Deep Learning
without Weight Transport", NeurIPS 32, arXiv:1904.05391, Sec. 3).

The error goes down through feedback weights B as in feedback alignment. Between
training steps a *mirror phase* teaches B the forward weights without transporting
them: each layer is driven by noise ``x ~ N(0, sigma^2 I)`` of its input's size, its
forward weights give ``y = W x``, and each feedback synapse changes with the product of
the activities at its two ends, with decay::

    B <- (1 - lambda) B + eta  x y^T / n          (B of the shape of W^T, n noise samples)

Since ``E[x y^T] = sigma^2 W^T``, B relaxes to ``(eta sigma^2 / lambda) W^T``, a positive
multiple of ``W^T``: the weight angle goes to 0. A convolution is mirrored as the linear
map it applies to one input patch (noise of the kernel's size). The defaults
(``eta = lambda = 0.05``, ``sigma = 1``, so that B relaxes to ``W^T`` itself in about 20 mirror
phases, 64 noise samples, a mirror phase after every 4th training step) are this
implementation's choices, not values from the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rules.feedback_alignment import FeedbackAlignment
from bioplaus.rules.wrap import wrapped_layers


def mirror_update_(b: Tensor, w: Tensor, x: Tensor, lr: float, decay: float) -> None:
    """One mirror phase, in place: ``b <- (1 - decay) b + lr y^T x / n`` with ``y = x w^T``.

    ``b`` and ``w`` have the shape ``(n_out, n_in)`` (pass ``B.t()`` for a feedback matrix
    stored as ``W^T``); ``x`` is the noise, ``(n, n_in)``.
    """
    y = x.mm(w.t())
    b.addmm_(y.t(), x, beta=1.0 - decay, alpha=lr / x.shape[0])  # one fused op, no (n_out, n_in) temporary


class WeightMirror(FeedbackAlignment):
    """Feedback alignment whose B learns in mirror phases driven by noise.

    Args:
        mirror_every: training steps between mirror phases (1: after every step; default 4,
            which keeps the mirror phase under ~5 % of a training step's time on the
            784-1000-10 benchmark, see BENCHMARKS.md).
        mirror_batch: noise samples per mirror phase.
        noise_std: ``sigma``, the standard deviation of the noise.
        mirror_lr: ``eta``; mirror_decay: ``lambda`` (per mirror phase).
        scale: range of the initial random B, as in :class:`FeedbackAlignment`.
    """

    name = "weight_mirror"
    title = "weight mirror"
    colour = "#ff7f0e"

    def __init__(self, mirror_every: int = 4, mirror_batch: int = 64, noise_std: float = 1.0,
                 mirror_lr: float = 0.05, mirror_decay: float = 0.05, scale: float | None = None,
                 label: str | None = None):
        super().__init__(scale=scale, label=label)
        for key, value in (("mirror_every", mirror_every), ("mirror_batch", mirror_batch)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BioplausError(f"rule 'weight_mirror': {key} must be a positive integer, got {value!r}.")
        for key, value in (("noise_std", noise_std), ("mirror_lr", mirror_lr)):
            if not value > 0:
                raise BioplausError(f"rule 'weight_mirror': {key} must be positive, got {value!r}.")
        if not 0 <= mirror_decay < 1:
            raise BioplausError(f"rule 'weight_mirror': mirror_decay must be in [0, 1), got {mirror_decay!r}.")
        self.mirror_every, self.mirror_batch, self.noise_std = mirror_every, mirror_batch, float(noise_std)
        self.mirror_lr, self.mirror_decay = float(mirror_lr), float(mirror_decay)
        self.generator: torch.Generator | None = None
        self.weights: dict[str, Tensor] = {}
        self.noise: dict[str, Tensor] = {}  # the mirror phase's noise, drawn in place each phase
        self.steps = 0

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        super().setup(model, generator)
        self.generator, self.steps, self.noise = generator, 0, {}
        if not self.wrapped:
            self.weights = {name: model.linear(name).weight for name in self.B}

    def attach(self, module: nn.Module, generator: torch.Generator) -> None:
        super().attach(module, generator)
        self.generator, self.steps, self.noise = generator, 0, {}
        self.weights = {name: layer.weight for name, layer in wrapped_layers(module).items()}

    @torch.no_grad()
    def mirror(self, layered: bool) -> None:
        """One mirror phase for every feedback matrix."""
        for name, b in self.B.items():
            w = self.weights[name].detach()
            w2 = w.reshape(w.shape[0], -1)
            x = self.noise.get(name)
            if x is None or x.shape[1] != w2.shape[1] or x.dtype != w.dtype or x.device != w.device:
                x = self.noise[name] = torch.empty((self.mirror_batch, w2.shape[1]), dtype=w.dtype, device=w.device)
            x.normal_(0.0, self.noise_std, generator=self.generator)
            mirror_update_(b.t() if layered else b.view(w2.shape), w2, x, self.mirror_lr, self.mirror_decay)

    def after_step(self, model: nn.Module, batch, estimate: dict[str, Tensor]) -> None:
        """A mirror phase every ``mirror_every`` training steps."""
        self.steps += 1
        if self.steps % self.mirror_every == 0:
            self.mirror(not self.wrapped)

    def config(self) -> dict:
        return {**super().config(), "mirror_every": self.mirror_every, "mirror_batch": self.mirror_batch,
                "noise_std": self.noise_std, "mirror_lr": self.mirror_lr, "mirror_decay": self.mirror_decay}
