"""What every learning rule shares: the ``estimate`` interface and the layered-network plumbing.

A rule proposes an update direction in the units of a gradient: ``estimate(model,
batch)`` returns one tensor per trainable parameter, keyed like
``model.named_parameters()``. Training writes it into ``p.grad`` and steps an ordinary
``torch.optim`` optimizer, so every rule can be compared with backprop on the same
batch by the same metrics.

Rules for layered networks (:class:`LayeredRule`) assign credit to each layer's
pre-activation: they return ``deltas[l]``, an estimate of dLoss/da_l with shape
``(batch, n_l)``, and the parameter estimate follows as ``deltas[l]^T inputs[l]``.
Keeping the deltas lets the alignment metrics work on ``(batch, n)`` factors instead
of full ``(n_out, n_in)`` matrices.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.core import layer_of  # noqa: F401  (re-exported: rules and tests name layers with it)
from bioplaus.rate.feedforward import ForwardPass, gradients_from_deltas, times_slope
from bioplaus.rules.wrap import wrap, wrapped_estimate


class Rule:
    """Base class of all rate rules. Subclasses set ``name`` and implement :meth:`estimate`.

    ``label`` names the condition in a protocol (defaults to ``name``), so that two
    configurations of one rule can run side by side.
    """

    name: ClassVar[str] = "rule"
    #: how figures label the rule, and its colour (one rule, one colour across figures)
    title: ClassVar[str] = ""
    colour: ClassVar[str] = ""
    #: what the rule needs of a model: names from :data:`bioplaus.models.CAPABILITIES`, checked when a protocol is built
    requires: ClassVar[frozenset[str]] = frozenset({"torch"})

    def __init__(self, label: str | None = None):
        self.label = label or self.name

    # -- the interface -------------------------------------------------------------
    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        """Create the rule's own state (feedback matrices, noise) for ``model`` from ``generator``."""

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """An estimate of dLoss/dparam for every trainable parameter, keyed as ``model.named_parameters()``."""
        raise NotImplementedError

    def after_step(self, model: nn.Module, batch: Batch, estimate: dict[str, Tensor]) -> None:
        """Called after each ``opt.step()`` with the batch and the estimate just applied: rules whose own
        state learns (Kolen-Pollack's and the weight mirror's feedback, synthetic-gradient predictors,
        a critic's running average) update it here. Default: nothing learns."""

    def probe_values(self) -> dict[str, Any]:
        """Values the last :meth:`estimate` computed on the way that probes may read (``Observation.aux["rule"]``):
        e.g. a target-propagation rule's layer targets, a predictive-coding rule's energies. Default: none."""
        return {}

    def bind_optimizer(self, optimizer: tuple[str, dict[str, Any]] | torch.optim.Optimizer) -> None:
        """The run's optimizer (``(name, kwargs)`` or an optimizer object), given before training.

        Rules whose feedback weights learn like the forward weights (Kolen-Pollack) use
        its class and settings; the default ignores it.
        """

    def attach(self, module: nn.Module, generator: torch.Generator) -> None:
        """Called by :func:`bioplaus.wrap` once ``module``'s layers are wrapped: keep references to their state."""

    def bind_epoch(self, batches: int | None) -> None:
        """The run loop's batches per epoch (``None`` for a task without a fixed training set), given before training:
        a rule whose schedule counts epochs (target propagation's alternating phases) keeps it. Default: ignored."""

    def trains_forward(self) -> bool:
        """Whether the run loop applies this batch's estimate to the model's weights. Default: always; a rule that
        spends some batches training only its own weights (an inverse phase) says ``False`` for those."""
        return True

    # -- feedback weights, for weight_angle / norm_ratio / sign_concordance -------------
    def feedback(self) -> dict[str, Tensor]:
        """Feedback matrices keyed by the forward layer whose ``W^T`` each stands in for."""
        return {}

    def feedback_targets(self, model: nn.Module) -> dict[str, Tensor]:
        """What each feedback matrix stands in for (same keys and shapes as :meth:`feedback`)."""
        return {}

    # -- bookkeeping ----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The rule's hyper-parameters, stored with each run."""
        return {"rule": self.name, "label": self.label}

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays to store with the run (feedback matrices)."""
        return {f"feedback/{k}": v.detach().cpu().numpy() for k, v in self.feedback().items()}

    def fresh(self) -> "Rule":
        """An unconfigured copy, ready for :meth:`setup` in a new run."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "rule")
        return f"{type(self).__name__}({args})"


class LayeredRule(Rule):
    """A rule for layered networks that assigns credit through per-layer deltas (on a feedforward net),
    or through the replaced backward pass of wrapped layers (on a convnet or any module, :func:`bioplaus.wrap`)."""

    requires = frozenset({"torch", "layer_feedback"})
    #: whether the rule runs on the wrapped layers of a module (:func:`bioplaus.wrap`) rather than on per-layer deltas
    wrapped: bool = False

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        """On a layered network, the rule's per-layer state (:meth:`setup_layers`); on any other module, wrap its
        layers so that their backward pass is the rule's (:func:`bioplaus.wrap`, which calls :meth:`attach`)."""
        self.wrapped = not is_layered(model)
        if self.wrapped:
            wrap(model, self, generator=generator)
        else:
            self.setup_layers(model, generator)

    def setup_layers(self, model: nn.Module, generator: torch.Generator) -> None:
        """Create the rule's own state (feedback matrices) for a layered network from ``generator``. Default: none."""

    def deltas(self, model: nn.Module, fp: ForwardPass) -> list[Tensor | None]:
        """Estimates of dLoss/da_l, ``(batch, n_l)`` per layer; ``None`` where a layer gets no credit."""
        raise NotImplementedError

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        if not is_layered(model):
            return wrapped_estimate(model, batch)
        fp = model.forward_pass(batch.x, batch.y, batch.loss_fn)
        return gradients_from_deltas(model, fp, self.deltas(model, fp))


def is_layered(model: nn.Module) -> bool:
    """Whether ``model`` has the capability ``layered`` (layer-by-layer credit through ``forward_pass``), like
    :class:`~bioplaus.rate.feedforward.FeedforwardNet`. Other modules run a layered rule through :func:`bioplaus.wrap`.
    """
    return "layered" in getattr(model, "capabilities", ())


def output_delta(fp: ForwardPass) -> Tensor:
    """dLoss/da_L at the output layer's pre-activation, by autograd through the loss only (cached on ``fp``)."""
    if "output_delta" not in fp.cache:
        (fp.cache["output_delta"],) = torch.autograd.grad(fp.loss, fp.pre[-1], retain_graph=True)
    return fp.cache["output_delta"]


class Slope:
    """``f'(a_l)`` of one hidden layer, applied as a product: ``slope(g) = g * f'(a_l)``.

    The product runs as one fused kernel (:func:`bioplaus.rate.feedforward.times_slope`,
    the kernel autograd's backward uses, so chain-rule deltas equal autograd's bit for
    bit); :func:`bioplaus.rate.feedforward.activation_slope` forms ``f'(a_l)`` itself where values are needed.
    """

    __slots__ = ("activation", "pre", "post")

    def __init__(self, activation: str, pre: Tensor, post: Tensor):
        self.activation, self.pre, self.post = activation, pre, post

    def __call__(self, grad: Tensor) -> Tensor:
        return times_slope(self.activation, grad, self.pre, self.post)


def hidden_slopes(fp: ForwardPass) -> list[Slope]:
    """The :class:`Slope` ``f'(a_l)`` of every hidden layer (``(batch, n_l)``), without gradients (cached on ``fp``)."""
    if "hidden_slopes" not in fp.cache:
        fp.cache["hidden_slopes"] = [
            Slope(f, a.detach(), h.detach()) for f, a, h in zip(fp.activations[:-1], fp.pre[:-1], fp.post[:-1])
        ]
    return fp.cache["hidden_slopes"]


def times(slope: Slope | Tensor, grad: Tensor) -> Tensor:
    """``grad * f'(a)`` for a :class:`Slope` or a tensor of slopes (then ``grad`` is multiplied in place)."""
    return slope(grad) if isinstance(slope, Slope) else grad.mul_(slope)


def uniform_matrix(shape: tuple[int, int], bound: float, generator: torch.Generator, like: Tensor) -> Tensor:
    """A fixed random matrix with entries ``U(-bound, bound)``, drawn in float64 for reproducibility."""
    m = (torch.rand(shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    return m.to(dtype=like.dtype, device=like.device)


def glorot_bound(fan_in: int, fan_out: int) -> float:
    return float(np.sqrt(6.0 / (fan_in + fan_out)))
