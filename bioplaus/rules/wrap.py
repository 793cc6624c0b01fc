"""``bioplaus.wrap(module, rule)``: any PyTorch network learns with a weight-transport-free rule.

The ``nn.Linear`` and ``nn.Conv2d`` layers of the module are turned, in place, into
:class:`FeedbackLinear` and :class:`FeedbackConv2d`: same parameters (an optimizer built
before wrapping keeps working), same forward pass, but a backward pass in which the
error reaching a layer's input goes through feedback weights ``B`` instead of the
forward weights. For a linear layer ``y = x W^T + b`` with incoming error ``g = dL/dy``:

- backprop: ``dL/dx = g W``;  wrapped: ``dL/dx = g B``  (``B`` has the shape of ``W``);
- ``dL/dW = g^T x`` and ``dL/db = sum g`` are local and unchanged.

For a convolution the feedback kernel ``B`` (shape of the forward kernel) replaces the
kernel in the transposed convolution that carries the error down. Which ``B`` a layer
uses is the rule's business (a fixed random matrix for feedback alignment, ``s sign(W)``
for sign symmetry, a learned matrix for Kolen-Pollack and the weight mirror); the
layer asks the rule for it at every forward pass with gradients enabled.

Direct feedback alignment (Nøkland 2016) sends the *output* error ``e`` to every layer:
the error leaving a wrapped layer's input is ``e B_k`` reshaped like the input, with
``B_k`` of shape ``(n_out, numel(input_k))``. The output error must be known when the
lower layers run backward, so DFA needs a model whose last module is the ``nn.Linear``
that produces the output (an ``nn.Sequential`` of layers, checked on wrapping) and
the input shape to size the ``B_k``.

Everything else (pooling, activations, normalisation layers, reshapes) stays on
ordinary autograd. A module that owns parameters of any other kind (``Conv1d``,
``Embedding``, ``LSTM``, a custom layer) is refused with an error naming it: its
error would otherwise flow back by exact weight transport, silently.

Feedback weights are buffers (``<layer>.feedback_weight``), so ``state_dict`` saves and
loads them with the forward weights. Rules whose feedback learns (Kolen-Pollack, the
weight mirror) need one call after each optimizer step in a user's own loop:
:func:`update_feedback`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bioplaus.core import autograd_gradient, exact_backward, in_exact_backward, layer_of
from bioplaus.metrics.alignment import feedback_alignment_metrics, update_angles
from bioplaus.errors import BioplausError, allowed
from bioplaus.rules.registry import get_rule, rule_names, rule_class

NORMALISATION = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)


# -- the backward passes ----------------------------------------------------------------


class ErrorCell:
    """Holds the output error ``e = dL/d(output)`` of one backward pass, for direct feedback."""

    def __init__(self) -> None:
        self.error: Tensor | None = None


def _conv_args(layer: nn.Conv2d) -> tuple:
    return layer.stride, layer.padding, layer.dilation, layer.groups


class FeedbackLinearFunction(torch.autograd.Function):
    """``y = x W^T + b``; backward ``dL/dx = g B``, ``dL/dW = g^T x``, ``dL/db = sum g``.

    ``x``: ``(..., n_in)``; ``weight`` and ``feedback``: ``(n_out, n_in)``; ``g``: ``(..., n_out)``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor) -> Tensor:
        ctx.save_for_backward(x, feedback)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, g: Tensor):
        x, feedback = ctx.saved_tensors
        gx = g.matmul(feedback) if ctx.needs_input_grad[0] else None
        g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
        gw = g2.t().mm(x2) if ctx.needs_input_grad[1] else None
        gb = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


class FeedbackConv2dFunction(torch.autograd.Function):
    """A 2-d convolution whose error to the input goes through the feedback kernel.

    One ``convolution_backward`` call with the feedback kernel in place of the forward
    kernel: its input gradient uses ``B``; its kernel and bias gradients do not depend
    on the kernel and are the exact local ones.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor, conv: tuple) -> Tensor:
        ctx.save_for_backward(x, feedback)
        ctx.conv, ctx.has_bias = conv, bias is not None
        stride, padding, dilation, groups = conv
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, g: Tensor):
        x, feedback = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]]
        gx, gw, gb = torch.ops.aten.convolution_backward(
            g, x, feedback, [feedback.shape[0]] if ctx.has_bias else None,
            list(stride), list(padding), list(dilation), False, [0, 0], groups, mask)
        return gx, gw, gb if ctx.has_bias else None, None, None


class DirectFeedbackFunction(torch.autograd.Function):
    """A linear or convolutional layer under direct feedback alignment (Nøkland 2016).

    Backward: the weight and bias gradients are the exact local ones for the incoming
    error ``g``; the error sent to the input is ``e B`` reshaped like ``x``, where ``e`` is
    the output error ``(batch, n_out)`` and ``B`` is ``(n_out, numel(x[0]))``. The output
    layer (``is_output``) receives ``e`` itself and records it in ``cell`` for the layers
    below, whose backward runs later.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, feedback: Tensor, cell: ErrorCell,
                is_output: bool, conv: tuple | None) -> Tensor:
        ctx.save_for_backward(x, weight, feedback)
        ctx.cell, ctx.is_output, ctx.conv, ctx.has_bias = cell, is_output, conv, bias is not None
        if conv is None:
            return F.linear(x, weight, bias)
        return F.conv2d(x, weight, bias, *conv)

    @staticmethod
    def backward(ctx, g: Tensor):
        x, weight, feedback = ctx.saved_tensors
        if ctx.is_output:
            ctx.cell.error = g.reshape(g.shape[0], -1)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            if ctx.cell.error is None:
                raise BioplausError("direct feedback alignment: a wrapped layer ran backward before the output layer; "
                                    "wrap needs the model's output to be the last wrapped nn.Linear.")
            gx = ctx.cell.error.mm(feedback).reshape(x.shape)
        if ctx.conv is None:
            g2, x2 = g.reshape(-1, g.shape[-1]), x.reshape(-1, x.shape[-1])
            gw = g2.t().mm(x2) if ctx.needs_input_grad[1] else None
            gb = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        else:
            stride, padding, dilation, groups = ctx.conv
            _, gw, gb = torch.ops.aten.convolution_backward(
                g, x, weight, [weight.shape[0]] if ctx.has_bias else None,
                list(stride), list(padding), list(dilation), False, [0, 0], groups,
                [False, ctx.needs_input_grad[1], ctx.has_bias and ctx.needs_input_grad[2]])
        return gx, gw, gb if ctx.has_bias else None, None, None, None, None


# -- the wrapped layers -----------------------------------------------------------------


class FeedbackLayer:
    """What :class:`FeedbackLinear` and :class:`FeedbackConv2d` add to their torch layer.

    Attributes set by :func:`wrap`: ``feedback_rule`` (the rule that gives ``B``), ``direct_cell``
    and ``is_output`` (direct feedback only), and the buffer ``feedback_weight``. Inside
    :func:`bioplaus.core.exact_backward` the layer backpropagates exactly.
    """

    feedback_rule: Any
    direct_cell: ErrorCell | None
    is_output: bool

    def _feedback_forward(self, x: Tensor, conv: tuple | None) -> Tensor | None:
        """The rule's forward pass, or ``None`` for the plain one (exact mode, no gradients)."""
        if in_exact_backward() or not torch.is_grad_enabled():
            return None
        if self.direct_cell is not None:
            return DirectFeedbackFunction.apply(x, self.weight, self.bias, self.feedback_weight, self.direct_cell,
                                                self.is_output, conv)
        b = self.feedback_rule.layer_feedback(self)
        if conv is None:
            return FeedbackLinearFunction.apply(x, self.weight, self.bias, b)
        return FeedbackConv2dFunction.apply(x, self.weight, self.bias, b, conv)


class FeedbackLinear(nn.Linear, FeedbackLayer):
    """An ``nn.Linear`` whose backward sends the error through feedback weights (see :mod:`bioplaus.rules.wrap`)."""

    def forward(self, x: Tensor) -> Tensor:
        out = self._feedback_forward(x, None)
        return super().forward(x) if out is None else out


class FeedbackConv2d(nn.Conv2d, FeedbackLayer):
    """An ``nn.Conv2d`` whose backward sends the error through feedback kernels (see :mod:`bioplaus.rules.wrap`)."""

    def forward(self, x: Tensor) -> Tensor:
        out = self._feedback_forward(x, _conv_args(self))
        return super().forward(x) if out is None else out


# -- wrapping ---------------------------------------------------------------------------


def _check_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """The Linear and Conv2d layers of ``module`` in registration order; errors for anything unsupported."""
    layers = []
    for name, m in module.named_modules():
        if type(m) in (nn.Linear, nn.Conv2d, FeedbackLinear, FeedbackConv2d):
            if isinstance(m, nn.Conv2d):
                if isinstance(m.padding, str) or m.padding_mode != "zeros":
                    raise BioplausError(f"wrap: layer '{name}' ({m}) uses padding={m.padding!r}, padding_mode={m.padding_mode!r}; "
                                        "wrapped Conv2d layers need integer padding and padding_mode='zeros'.")
            layers.append((name or "module", m))
        elif isinstance(m, NORMALISATION):
            continue
        elif any(True for _ in m.parameters(recurse=False)):
            raise BioplausError(
                f"wrap: layer '{name}' is a {type(m).__name__}, which owns parameters but is not a supported layer; "
                f"supported layers are {allowed(['nn.Linear', 'nn.Conv2d'])}, and normalisation layers "
                "(BatchNorm, LayerNorm, GroupNorm, InstanceNorm) stay on autograd. Its error would otherwise "
                "flow back by exact weight transport.")
    if not layers:
        raise BioplausError(f"wrap: {type(module).__name__} has no nn.Linear or nn.Conv2d layer to wrap.")
    return layers


def wrapped_layers(module: nn.Module) -> dict[str, FeedbackLayer]:
    """The wrapped layers of ``module`` by their module path (``"0"``, ``"features.conv1"``)."""
    return {name or "module": m for name, m in module.named_modules() if isinstance(m, FeedbackLayer)}


def is_wrapped(module: nn.Module) -> bool:
    return any(isinstance(m, FeedbackLayer) for m in module.modules())


def wrap(module: nn.Module, rule: Any, *, generator: torch.Generator | None = None,
         input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Make ``module``'s ``nn.Linear`` and ``nn.Conv2d`` layers learn with ``rule``; returns ``module``.

    Args:
        module: any ``nn.Module``; changed in place (its parameters stay the same objects).
        rule: a rule object or name (``"feedback_alignment"``, ``"sign_symmetry_usf"``,
            ``"kolen_pollack"``, ...), see :func:`bioplaus.rules.names`.
        generator: draws the feedback weights (default: a generator seeded with 0).
        input_shape: shape of one input without the batch dimension, e.g. ``(1, 28, 28)``;
            needed by direct feedback alignment to size its feedback matrices
            (default: ``module.input_shape`` if the module has one).

    After wrapping, ``loss.backward()`` fills every parameter's ``.grad`` with the rule's
    estimate; feedback weights are buffers ``<layer>.feedback_weight``. Rules whose
    feedback learns also need :func:`update_feedback` after each optimizer step.
    """
    if isinstance(rule, str):
        rule = get_rule(rule)
    if not callable(getattr(rule, "estimate", None)):
        raise BioplausError(f"wrap: rule must be a rule object or a rule name, got {rule!r}.")
    if not _wrappable(type(rule)):
        raise BioplausError(f"wrap: rule {rule.name!r} cannot run on wrapped layers; rules that can are "
                            f"{allowed([n for n in rule_names() if _wrappable(rule_class(n))])}.")
    if is_wrapped(module):
        raise BioplausError("wrap: the module is already wrapped; wrap a fresh module (or load a state_dict into one).")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    layers = _check_layers(module)
    direct = bool(getattr(rule, "direct_feedback", False))
    sizes: dict[str, int] = {}
    cell = None
    if direct:
        sizes = _direct_sizes(module, layers, input_shape if input_shape is not None else getattr(module, "input_shape", None))
        cell = ErrorCell()
    for i, (name, layer) in enumerate(layers):
        layer.__class__ = FeedbackConv2d if isinstance(layer, nn.Conv2d) else FeedbackLinear
        layer.feedback_rule = rule
        layer.direct_cell = cell
        layer.is_output = direct and i == len(layers) - 1
        if direct:
            b = rule.init_direct_feedback(sizes["n_out"], sizes[name], layer.weight, generator)
        else:
            b = rule.init_layer_feedback(layer, generator)
        layer.register_buffer("feedback_weight", b if b is not None else torch.empty(0, dtype=layer.weight.dtype,
                                                                                     device=layer.weight.device))
    rule.wrapped = True  # the rule now assigns credit through these layers' backward passes
    rule.attach(module, generator)
    module.bioplaus_rule = rule
    return module


def _wrappable(cls: type) -> bool:
    return hasattr(cls, "layer_feedback") or getattr(cls, "direct_feedback", False)


def _direct_sizes(module: nn.Module, layers: list[tuple[str, nn.Module]], input_shape) -> dict[str, int]:
    """``numel`` of each layer's input and the output size, from a dry run; checks the model's layout."""
    if input_shape is None:
        raise BioplausError("wrap: direct feedback alignment needs input_shape=(...) (one input without the batch "
                            "dimension) to size its feedback matrices B_k of shape (n_out, numel(input_k)).")
    if not isinstance(module, nn.Sequential):
        raise BioplausError(f"wrap: direct feedback alignment needs an nn.Sequential whose last module is the nn.Linear "
                            f"that produces the output (the output error must reach every layer); got a {type(module).__name__}.")
    last = list(module.children())[-1] if len(module) else None
    if not isinstance(last, nn.Linear) or last is not layers[-1][1]:
        raise BioplausError("wrap: direct feedback alignment needs the last module of the nn.Sequential to be the "
                            f"nn.Linear that produces the output; the last module is {type(last).__name__}.")
    sizes: dict[str, int] = {}
    hooks = [layer.register_forward_pre_hook(lambda m, args, name=name: sizes.__setitem__(name, args[0][0].numel()))
             for name, layer in layers]
    try:
        with torch.no_grad():
            p = layers[0][1].weight
            out = module(torch.zeros((1, *input_shape), dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
    sizes["n_out"] = out[0].numel()
    return sizes


@contextlib.contextmanager
def exact_gradients(module: nn.Module) -> Iterator[nn.Module]:
    """Inside this context wrapped layers backpropagate exactly (``B = W``): the reference gradient
    (:func:`bioplaus.core.exact_backward`, for ``module``)."""
    with exact_backward():
        yield module


def wrapped_estimate(module: nn.Module, batch) -> dict[str, Tensor]:
    """The rule's estimate on a wrapped module: autograd through the feedback layers, keyed by parameter name."""
    if not is_wrapped(module):
        raise BioplausError(f"this rule runs on layered bioplaus networks or on modules wrapped with bioplaus.wrap; "
                            f"{type(module).__name__} is neither.")
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(batch.loss(module(batch.x)), list(params.values()), allow_unused=True)
    return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params.items(), grads)}


def update_feedback(module: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
    """Let a learning feedback path learn, after ``optimizer.step()`` in a user's own training loop.

    Kolen-Pollack gives each ``B`` the update its forward weights got, ``.grad`` of the
    weights included, with an optimizer of the same class and settings as ``optimizer``
    (created on the first call). The weight mirror runs its mirror phase. Other rules
    do nothing.
    """
    rule = getattr(module, "bioplaus_rule", None)
    if rule is None:
        raise BioplausError("update_feedback: the module was not wrapped with bioplaus.wrap.")
    if optimizer is not None and hasattr(rule, "bind_optimizer"):
        rule.bind_optimizer(optimizer)
    estimate = {k: p.grad for k, p in module.named_parameters() if p.grad is not None}
    rule.after_step(module, None, estimate)


def alignment_metrics(module: nn.Module, batch) -> list[tuple[str, str, float]]:
    """Every alignment metric of a wrapped module on ``batch``: ``(metric, layer, value)`` rows.

    ``update_angle`` between the rule's estimate and the exact gradient (per layer, and
    ``all``), and for rules with feedback weights ``weight_angle``, ``norm_ratio`` and
    ``sign_concordance`` between each ``B`` and its layer's ``W``. Layers are named by
    their module path. Nothing is changed, except that batchwise-random sign symmetry
    draws its magnitudes for this batch.
    """
    rule = getattr(module, "bioplaus_rule", None)
    if rule is None:
        raise BioplausError("alignment_metrics: the module was not wrapped with bioplaus.wrap.")
    groups: dict[str, list[str]] = {}
    for name, _ in module.named_parameters():
        groups.setdefault(layer_of(name), []).append(name)
    estimate = wrapped_estimate(module, batch)
    rows = [("update_angle", layer, v) for layer, v in update_angles(estimate, autograd_gradient(module, batch), groups).items()]
    return rows + feedback_alignment_metrics(rule.feedback(), rule.feedback_targets(module))
