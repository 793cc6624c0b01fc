"""Sign symmetry (Liao, Leibo & Poggio 2016, "How Important Is Weight Symmetry in
Backpropagation?", AAAI-16): the error travels back through feedback weights that share
the *signs* of the forward weights but not their magnitudes,
``B_l = (M_l ∘ sign(W_l))^T`` in place of ``W_l^T`` (their "sign-concordant feedback").

Liao et al.'s variants and their names in results:

- ``sign_symmetry_usf``: "uniform sign-concordant feedback" (uSF), ``M = s`` for every
  entry, so ``B = s sign(W)^T`` (``s = 1`` by default);
- ``sign_symmetry_brsf``: "batchwise random magnitude sign-concordant feedback" (brSF),
  ``M = |R|`` with ``R`` redrawn after every update of W (here ``R ~ N(0, s^2)``);
- ``sign_symmetry_frsf``: "fixed random magnitude sign-concordant feedback" (frSF), ``M = |R|``
  drawn once.

Liao et al. found that magnitudes hardly matter but signs do, and that their
asymmetric backprop needs batch normalisation or "Batch Manhattan" updates. Moskovitz,
Litwin-Kumar & Abbott 2018 ("Feedback alignment in deep convolutional networks",
arXiv:1812.06488) rescale the feedback weights; ``scaling="norm"`` offers a layer-wise
rescaling that gives ``B`` the Frobenius norm of ``W`` (our reading of their idea that
feedback and forward magnitudes should match; the exact form of their scaling was
not checked against the paper).

As ``W`` changes, so does ``B``: the estimate uses the signs of the current weights.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.feedforward import ForwardPass, activation_slope
from bioplaus.rules.base import LayeredRule, is_layered, output_delta
from bioplaus.rules.feedback_alignment import feedback_alignment_deltas

SCALINGS = ("none", "norm")


def sign_concordant_feedback(weight: Tensor, magnitude: Tensor | float, scaling: str = "none") -> Tensor:
    """``|M| ∘ sign(W)`` with the shape of ``W`` (transpose it for a layered net's ``B``).

    ``magnitude`` is a scalar ``s`` (uSF) or a tensor of ``W``'s shape (brSF, frSF; its
    absolute value is used). ``scaling="norm"`` rescales the result to ``|W|_F``.
    """
    mag = magnitude.abs() if isinstance(magnitude, Tensor) else abs(magnitude)
    b = mag * torch.sign(weight)
    if scaling == "norm":
        nb = b.norm()
        b = b * (weight.norm() / nb) if nb > 0 else b
    return b


class SignSymmetry(LayeredRule):
    """Base of the three sign-symmetry variants (see the module docstring).

    Args:
        scale: ``s``, the magnitude of uSF's entries or the standard deviation of the
            random magnitudes of brSF and frSF.
        scaling: ``"none"`` or ``"norm"`` (``|B| = |W|`` per layer).
    """

    name: ClassVar[str] = "sign_symmetry"
    magnitudes: ClassVar[str] = "uniform"  # "uniform", "batch_random" or "fixed_random"

    def __init__(self, scale: float = 1.0, scaling: str = "none", label: str | None = None):
        super().__init__(label)
        if scaling not in SCALINGS:
            raise BioplausError(f"rule {self.name!r}: scaling {scaling!r} is not allowed; allowed values are {allowed(SCALINGS)}.")
        if not scale > 0:
            raise BioplausError(f"rule {self.name!r}: scale must be positive, got {scale!r}.")
        self.scale, self.scaling = float(scale), scaling
        self.weights: dict[str, Tensor] = {}
        self.M: dict[str, Tensor] = {}  # random magnitudes, shape of W
        self.generator: torch.Generator | None = None
        self.layered = True

    # -- state --------------------------------------------------------------------------
    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        if not is_layered(model):
            from bioplaus.rate.wrap import wrap

            wrap(model, self, generator=generator)
            return
        self.layered, self.generator = True, generator
        self.weights = {n: model.linear(n).weight for n in model.layer_names[1:]}
        self.M = {n: self._draw(w) for n, w in self.weights.items()} if self.magnitudes != "uniform" else {}

    def _draw(self, w: Tensor) -> Tensor:
        m = torch.randn(tuple(w.shape), generator=self.generator, dtype=w.dtype, device=w.device)
        return m.abs_().mul_(self.scale)

    def current(self, name: str) -> Tensor:
        """The feedback standing in for layer ``name``'s weights, in ``W``'s shape."""
        w = self.weights[name].detach()
        return sign_concordant_feedback(w, self.M[name] if self.M else self.scale, self.scaling)

    # -- layered networks ------------------------------------------------------------------
    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor]:
        slopes = [activation_slope(f, a.detach(), h.detach()) for f, a, h in zip(fp.activations[:-1], fp.pre[:-1], fp.post[:-1])]
        return feedback_alignment_deltas(output_delta(fp), [self.current(n).t() for n in fp.layer_names[1:]], slopes)

    def update_feedback(self, model: nn.Module, batch, estimate: dict[str, Tensor]) -> None:
        """brSF: new random magnitudes after every update of W (Liao et al. 2016)."""
        if self.magnitudes == "batch_random" and self.layered:
            self.M = {n: self._draw(w) for n, w in self.weights.items()}

    def feedback(self) -> dict[str, Tensor]:
        return {n: self.current(n).t() if self.layered else self.current(n) for n in self.weights}

    def feedback_targets(self, model: nn.Module) -> dict[str, Tensor]:
        return {n: w.detach().t() if self.layered else w.detach() for n, w in self.weights.items()}

    # -- wrapped modules (bioplaus.wrap) ----------------------------------------------------
    def init_layer_feedback(self, layer: nn.Module, generator: torch.Generator) -> Tensor | None:
        if self.magnitudes == "fixed_random":
            self.generator = generator
            return self._draw(layer.weight)
        return None

    def attach(self, module: nn.Module, generator: torch.Generator) -> None:
        from bioplaus.rate.wrap import wrapped_layers

        self.layered, self.generator = False, generator
        layers = wrapped_layers(module)
        self.weights = {n: l.weight for n, l in layers.items()}
        if self.magnitudes == "fixed_random":
            self.M = {n: l.feedback_weight for n, l in layers.items()}
        elif self.magnitudes == "batch_random":
            self.M = {n: self._draw(l.weight) for n, l in layers.items()}

    def layer_feedback(self, layer: nn.Module) -> Tensor:
        """``B`` for a wrapped layer at this forward pass; brSF draws new magnitudes each time."""
        w = layer.weight.detach()
        if self.magnitudes == "uniform":
            return sign_concordant_feedback(w, self.scale, self.scaling)
        if self.magnitudes == "fixed_random":
            return sign_concordant_feedback(w, layer.feedback_weight, self.scaling)
        m = self._draw(w)
        name = next((n for n, x in self.weights.items() if x is layer.weight), None)
        if name is not None:
            self.M[name] = m
        return sign_concordant_feedback(w, m, self.scaling)

    def config(self) -> dict:
        return {**super().config(), "scale": self.scale, "scaling": self.scaling}


class SignSymmetryUSF(SignSymmetry):
    """Uniform sign-concordant feedback (Liao et al. 2016, uSF): ``B = s sign(W)^T``."""

    name = "sign_symmetry_usf"
    magnitudes = "uniform"


class SignSymmetryBRSF(SignSymmetry):
    """Batchwise random magnitude sign-concordant feedback (Liao et al. 2016, brSF): ``|R| ∘ sign(W)``, R redrawn every batch."""

    name = "sign_symmetry_brsf"
    magnitudes = "batch_random"


class SignSymmetryFRSF(SignSymmetry):
    """Fixed random magnitude sign-concordant feedback (Liao et al. 2016, frSF): ``|R| ∘ sign(W)``, R drawn once."""

    name = "sign_symmetry_frsf"
    magnitudes = "fixed_random"
