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
asymmetric backprop needs batch normalisation or "Batch Manhattan" updates. Without
them the size of B matters: ``sign(W)`` has entries of size 1 where ``W``'s are of size
``~1/sqrt(fan_in)``, so errors grow layer by layer.

Moskovitz, Litwin-Kumar & Abbott 2018 ("Feedback alignment in deep convolutional
networks", arXiv:1812.06488) made sign-concordant feedback work on ImageNet with several
techniques. Only their abstract could be retrieved with the search tool; what is known
here of their techniques comes second hand, from BioTorch's source
(github.com/jsalbert/biotorch, ``biotorch/layers/fa_constructor/linear.py``), which
cites the paper for one option, ``constrain_weights``: before every forward pass it
rescales each forward weight matrix to the Frobenius norm it had at initialisation,
``W <- W |W_0|_F / |W|_F``. That is offered here as ``constrain_weights=True`` (applied
after every update, in :meth:`SignSymmetry.after_step`, to every layer's W). The
same file scales feedback by ``sqrt(2 / (fan_in + fan_out))``, citing Xiao, Chen, Liao &
Poggio 2018 ("Biologically-plausible learning algorithms can scale to large datasets",
arXiv:1811.03567): ``scaling="glorot"`` below. ``scaling`` rescales ``|M| ∘ sign(W)``
per layer:

- ``"none"``: no rescaling;
- ``"norm"``: to the Frobenius norm of W, ``|B|_F = |W|_F``;
- ``"mean_abs"``: to W's mean absolute weight, ``mean|B| = mean|W|`` (for uSF every
  entry is then ``±mean|W|``);
- ``"glorot"``: by the fixed factor ``sqrt(2 / (fan_in + fan_out))``, the standard
  deviation of Glorot initialisation (fans as ``torch.nn.init`` counts them, kernel
  size included for convolutions), as BioTorch does (see above).

"norm" and "mean_abs" are this package's choices (feedback as large as the forward
weights); they follow W's size as it changes, "glorot" depends on the layer's shape
only. ``scale`` (``s``) multiplies before the rescaling, so it cancels under "norm" and
"mean_abs".

As ``W`` changes, so does ``B``: the estimate uses the signs of the current weights.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.feedforward import ForwardPass
from bioplaus.rules.base import LayeredRule, hidden_slopes, output_delta
from bioplaus.rules.feedback_alignment import feedback_alignment_deltas
from bioplaus.rules.wrap import wrapped_layers

SCALINGS = ("none", "norm", "mean_abs", "glorot")


def glorot_std(weight: Tensor) -> float:
    """``sqrt(2 / (fan_in + fan_out))`` for a weight ``(out, in, *kernel)``; fans count the kernel's positions."""
    positions = weight[0][0].numel() if weight.dim() > 2 else 1
    fan_in, fan_out = weight.shape[1] * positions, weight.shape[0] * positions
    return (2.0 / (fan_in + fan_out)) ** 0.5


def rescale_(b: Tensor, weight: Tensor, scaling: str) -> Tensor:
    """Rescale the feedback ``b`` in place by ``scaling`` (one of ``SCALINGS``, see the module docstring)."""
    if scaling == "norm":
        nb = b.norm()
        if nb > 0:
            b.mul_(weight.norm() / nb)
    elif scaling == "mean_abs":
        mb = b.abs().mean()
        if mb > 0:
            b.mul_(weight.abs().mean() / mb)
    elif scaling == "glorot":
        b.mul_(glorot_std(weight))
    return b


def sign_concordant_feedback(weight: Tensor, magnitude: Tensor | float, scaling: str = "none") -> Tensor:
    """``|M| ∘ sign(W)`` with the shape of ``W`` (transpose it for a layered net's ``B``), rescaled by ``scaling``.

    ``magnitude`` is a scalar ``s`` (uSF) or a tensor of ``W``'s shape (brSF, frSF; its
    absolute value is used).
    """
    b = torch.sign(weight)
    b.mul_(magnitude.abs() if isinstance(magnitude, Tensor) else abs(magnitude))
    return rescale_(b, weight, scaling)


def _nonnegative_feedback(weight: Tensor, magnitude: Tensor | float, scaling: str) -> Tensor:
    """:func:`sign_concordant_feedback` for magnitudes already ``>= 0`` (the rule's own draws): two ops, one new tensor."""
    b = torch.sign(weight)
    return rescale_(b.mul_(magnitude) if isinstance(magnitude, Tensor) or magnitude != 1.0 else b, weight, scaling)


class SignSymmetry(LayeredRule):
    """Base of the three sign-symmetry variants (see the module docstring).

    Args:
        scale: ``s``, the magnitude of uSF's entries or the standard deviation of the
            random magnitudes of brSF and frSF.
        scaling: one of ``SCALINGS``: ``"none"``, ``"norm"`` (``|B|_F = |W|_F`` per layer),
            ``"mean_abs"`` (``mean|B| = mean|W|``) or ``"glorot"`` (times ``sqrt(2/(fan_in + fan_out))``).
        constrain_weights: after every update, rescale every layer's forward weights to their
            initial Frobenius norm (the option BioTorch attributes to Moskovitz et al. 2018).
    """

    name: ClassVar[str] = "sign_symmetry"
    magnitudes: ClassVar[str] = "uniform"  # "uniform", "batch_random" or "fixed_random"

    def __init__(self, scale: float = 1.0, scaling: str = "none", constrain_weights: bool = False, label: str | None = None):
        super().__init__(label)
        if scaling not in SCALINGS:
            raise BioplausError(f"rule {self.name!r}: scaling {scaling!r} is not allowed; allowed values are {allowed(SCALINGS)}.")
        if not scale > 0:
            raise BioplausError(f"rule {self.name!r}: scale must be positive, got {scale!r}.")
        if not isinstance(constrain_weights, bool):
            raise BioplausError(f"rule {self.name!r}: constrain_weights must be true or false, got {constrain_weights!r}.")
        self.scale, self.scaling, self.constrain_weights = float(scale), scaling, constrain_weights
        self.initial_norms: dict[str, tuple[Tensor, Tensor]] = {}  # layer -> (its W, |W_0|_F), with constrain_weights
        self.weights: dict[str, Tensor] = {}
        self.M: dict[str, Tensor] = {}  # random magnitudes, shape of W
        self.generator: torch.Generator | None = None
        self.layered = True

    # -- state --------------------------------------------------------------------------
    def setup_layers(self, model: nn.Module, generator: torch.Generator) -> None:
        self.layered, self.generator = True, generator
        self.weights = {n: model.linear(n).weight for n in model.layer_names[1:]}
        self._remember_norms({n: model.linear(n).weight for n in model.layer_names})
        self.M = {n: self._draw(w) for n, w in self.weights.items()} if self.magnitudes != "uniform" else {}

    def _draw(self, w: Tensor, out: Tensor | None = None) -> Tensor:
        """``|R|``, ``R ~ N(0, s^2)`` of ``W``'s shape and dtype, drawn into ``out`` when given (no new tensor)."""
        m = torch.empty_like(w, memory_format=torch.contiguous_format) if out is None else out
        return m.normal_(0.0, self.scale, generator=self.generator).abs_()

    def current(self, name: str) -> Tensor:
        """The feedback standing in for layer ``name``'s weights, in ``W``'s shape."""
        w = self.weights[name].detach()
        return _nonnegative_feedback(w, self.M[name] if self.M else self.scale, self.scaling)

    # -- layered networks ------------------------------------------------------------------
    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor]:
        return feedback_alignment_deltas(output_delta(fp), [self.current(n).t() for n in fp.layer_names[1:]], hidden_slopes(fp))

    def _remember_norms(self, weights: dict[str, Tensor]) -> None:
        self.initial_norms = {n: (w, w.detach().norm()) for n, w in weights.items()} if self.constrain_weights else {}

    @torch.no_grad()
    def after_step(self, model: nn.Module, batch, estimate: dict[str, Tensor]) -> None:
        """After every update of W: ``constrain_weights`` puts each W back to its initial norm;
        brSF draws new random magnitudes (Liao et al. 2016)."""
        for w, norm0 in self.initial_norms.values():
            norm = w.norm()
            if norm > 0:
                w.mul_(norm0 / norm)
        if self.magnitudes == "batch_random" and self.layered:
            for m in self.M.values():
                self._draw(m, out=m)

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
        self.layered, self.generator = False, generator
        layers = wrapped_layers(module)
        self.weights = {n: l.weight for n, l in layers.items()}
        self._remember_norms(self.weights)
        if self.magnitudes == "fixed_random":
            self.M = {n: l.feedback_weight for n, l in layers.items()}
        elif self.magnitudes == "batch_random":
            self.M = {n: self._draw(l.weight) for n, l in layers.items()}

    def layer_feedback(self, layer: nn.Module) -> Tensor:
        """``B`` for a wrapped layer at this forward pass; brSF draws new magnitudes each time."""
        w = layer.weight.detach()
        if self.magnitudes == "uniform":
            return _nonnegative_feedback(w, self.scale, self.scaling)
        if self.magnitudes == "fixed_random":
            return sign_concordant_feedback(w, layer.feedback_weight, self.scaling)
        name = next((n for n, x in self.weights.items() if x is layer.weight), None)
        old = self.M.get(name) if name is not None else None
        m = self._draw(w, out=old if old is not None and old.shape == w.shape else None)
        if name is not None:
            self.M[name] = m
        return _nonnegative_feedback(w, m, self.scaling)

    def config(self) -> dict:
        extra = {"constrain_weights": True} if self.constrain_weights else {}  # absent when off: stored configs keep their hash
        return {**super().config(), "scale": self.scale, "scaling": self.scaling, **extra}


class SignSymmetryUSF(SignSymmetry):
    """Uniform sign-concordant feedback (Liao et al. 2016, uSF): ``B = s sign(W)^T``."""

    name = "sign_symmetry_usf"
    title = "sign symmetry (uSF)"
    colour = "#2ca02c"
    magnitudes = "uniform"


class SignSymmetryBRSF(SignSymmetry):
    """Batchwise random magnitude sign-concordant feedback (Liao et al. 2016, brSF): ``|R| ∘ sign(W)``, R redrawn every batch."""

    name = "sign_symmetry_brsf"
    title = "sign symmetry (brSF)"
    colour = "#98df8a"
    magnitudes = "batch_random"


class SignSymmetryFRSF(SignSymmetry):
    """Fixed random magnitude sign-concordant feedback (Liao et al. 2016, frSF): ``|R| ∘ sign(W)``, R drawn once."""

    name = "sign_symmetry_frsf"
    title = "sign symmetry (frSF)"
    colour = "#17becf"
    magnitudes = "fixed_random"
