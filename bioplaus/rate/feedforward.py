"""Layered feedforward rate networks: ``a_l = W_l h_{l-1} + b_l``, ``h_l = f_l(a_l)``.

The model knows nothing about learning rules. It exposes what rules need: its layers
in order (``layer_names``, ``linear(name)``), their activations, and
:meth:`FeedforwardNet.forward_pass`, which keeps every layer's input and
pre-activation so that a rule can assign credit to them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from bioplaus.core import TorchModel
from bioplaus.model_kind import ModelKind
from bioplaus.rate.spec import FeedforwardSpec, feedforward_spec_from_dict


def activate(name: str, a: Tensor) -> Tensor:
    """Apply activation ``name`` (one of ``linear, tanh, relu, sigmoid``) to pre-activations ``a``."""
    if name == "linear":
        return a
    if name == "tanh":
        return torch.tanh(a)
    if name == "relu":
        return torch.relu(a)
    if name == "sigmoid":
        return torch.sigmoid(a)
    raise ValueError(f"unknown activation {name!r}")


def activation_slope(name: str, a: Tensor, h: Tensor) -> Tensor:
    """f'(a) for activation ``name``, given the pre-activation ``a`` and output ``h = f(a)``."""
    if name == "linear":
        return torch.ones_like(a)
    if name == "tanh":
        return 1.0 - h * h
    if name == "relu":
        return (a > 0).to(a.dtype)
    if name == "sigmoid":
        return h * (1.0 - h)
    raise ValueError(f"unknown activation {name!r}")


def times_slope(name: str, grad: Tensor, a: Tensor, h: Tensor) -> Tensor:
    """``grad * f'(a)`` for activation ``name`` in one kernel: the one autograd's own backward uses.

    Bit for bit what ``loss.backward()`` computes for the same ``grad``, and one pass over
    memory instead of the two or three of forming :func:`activation_slope` and
    multiplying (for a 100 x 1000 tanh layer: ~100 against ~280 us on one core).
    ``grad`` is left unchanged (a new tensor is returned), except for ``linear`` (``grad`` itself).
    """
    if name == "linear":
        return grad
    if name == "tanh":
        return torch.ops.aten.tanh_backward(grad, h)
    if name == "relu":
        return torch.ops.aten.threshold_backward(grad, h, 0)
    if name == "sigmoid":
        return torch.ops.aten.sigmoid_backward(grad, h)
    raise ValueError(f"unknown activation {name!r}")


@dataclass
class ForwardPass:
    """Everything a credit-assignment rule needs from one forward pass of a batch.

    ``inputs[l]`` is the input of weight layer ``l``, shape ``(batch, n_{l-1})``;
    ``pre[l]`` its pre-activation and ``post[l]`` its output, shape ``(batch, n_l)``.
    ``loss`` is the task loss of ``post[-1]`` (a scalar in the autograd graph of ``pre``).
    ``cache`` holds what rules and metrics derive from the pass (the output delta, the
    slopes ``f'(a_l)``), so that a rule and its backprop reference compute them once.
    ``target`` and ``loss_fn`` are the batch's targets and loss (``None`` when not given), for rules
    that form an output target from the label itself (target propagation) rather than from a gradient.
    """

    layer_names: list[str]
    activations: list[str]
    inputs: list[Tensor]
    pre: list[Tensor]
    post: list[Tensor]
    loss: Tensor
    has_bias: bool
    cache: dict = field(default_factory=dict, repr=False)
    target: Tensor | None = field(default=None, repr=False)
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = field(default=None, repr=False)

    @property
    def output(self) -> Tensor:
        return self.post[-1]


class FeedforwardNet(TorchModel):
    """A feedforward rate network built from a :class:`FeedforwardSpec`.

    Parameters are named ``layers.<layer>.weight`` (shape ``(n_out, n_in)``) and
    ``layers.<layer>.bias``, with ``<layer>`` from ``spec.layer_names``.
    """

    def __init__(self, spec: FeedforwardSpec, generator: torch.Generator | None = None):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleDict()
        for name, n_in, n_out in zip(spec.layer_names, spec.sizes[:-1], spec.sizes[1:]):
            self.layers[name] = nn.Linear(n_in, n_out, bias=spec.bias)
        self.reset_parameters(generator)
        self.to(getattr(torch, spec.dtype))

    @property
    def layer_names(self) -> list[str]:
        return list(self.spec.layer_names)

    @property
    def activations(self) -> list[str]:
        return list(self.spec.activations)

    def linear(self, name: str) -> nn.Linear:
        return self.layers[name]

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise weights with ``spec.init`` from ``generator`` (the run's init stream)."""
        s = self.spec
        for layer in self.layers.values():
            w = layer.weight
            fan_out, fan_in = w.shape
            if s.init == "uniform":
                bound = s.init_scale
            elif s.init == "xavier_uniform":
                bound = s.init_scale * math.sqrt(6.0 / (fan_in + fan_out))
            elif s.init == "kaiming_uniform":
                bound = s.init_scale * math.sqrt(6.0 / fan_in)
            elif s.init == "torch_default":
                bound = 1.0 / math.sqrt(fan_in)
            else:
                bound = None
            if bound is not None:
                w.copy_((torch.rand(w.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
            else:
                std = s.init_scale if s.init == "normal" else s.init_scale * math.sqrt(2.0 / (fan_in + fan_out))
                w.copy_(torch.randn(w.shape, generator=generator, dtype=torch.float64) * std)
            if layer.bias is not None:
                if s.init == "torch_default":
                    b = (torch.rand(layer.bias.shape, generator=generator, dtype=torch.float64) * 2 - 1) / math.sqrt(fan_in)
                    layer.bias.copy_(b)
                else:
                    layer.bias.zero_()

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype (``spec.dtype`` at build; ``.double()`` changes it): inputs are cast to it."""
        return self.layers[self.spec.layer_names[0]].weight.dtype

    def forward(self, x: Tensor) -> Tensor:
        h = x.to(self.dtype)
        for name, act in zip(self.spec.layer_names, self.spec.activations):
            h = activate(act, self.layers[name](h))
        return h

    def hidden_states(self, x: Tensor) -> dict[str, Tensor]:
        """Outputs of every hidden layer for inputs ``x`` ``(batch, n_in)``, without gradients."""
        out = {}
        h = x.to(self.dtype)
        with torch.no_grad():
            for name, act in zip(self.spec.layer_names[:-1], self.spec.activations[:-1]):
                h = activate(act, self.layers[name](h))
                out[name] = h
        return out

    @property
    def capabilities(self) -> frozenset[str]:
        return feedforward_capabilities(self.spec)

    def reference_gradient(self, batch) -> dict[str, Tensor]:
        """The exact gradient by backprop: ``delta_l = dLoss/da_l`` of every layer by autograd, then
        ``dW_l = delta_l^T x_l``, ``db_l = sum_batch delta_l``."""
        fp = self.forward_pass(batch.x, batch.y, batch.loss_fn)
        return gradients_from_deltas(self, fp, list(torch.autograd.grad(fp.loss, fp.pre)))

    def forward_pass(self, x: Tensor, target: Tensor, loss_fn) -> ForwardPass:
        """Run ``x`` through the network keeping each layer's input and pre-activation.

        The pre-activations stay in the autograd graph (so the exact gradient with
        respect to each of them is one ``torch.autograd.grad`` call away);
        ``loss_fn(output, target)`` gives the scalar loss.
        """
        inputs, pre, post = [], [], []
        h = x.to(self.dtype)
        for name, act in zip(self.spec.layer_names, self.spec.activations):
            inputs.append(h)
            a = self.layers[name](h)
            h = activate(act, a)
            pre.append(a)
            post.append(h)
        return ForwardPass(
            layer_names=self.layer_names,
            activations=self.activations,
            inputs=inputs,
            pre=pre,
            post=post,
            loss=loss_fn(h, target),
            has_bias=self.spec.bias,
            target=target,
            loss_fn=loss_fn,
        )


def gradients_from_deltas(model: nn.Module, fp: ForwardPass, deltas: list[Tensor | None]) -> dict[str, Tensor]:
    """Parameter estimates from per-layer deltas: ``dW_l = delta_l^T x_l``, ``db_l = sum_batch delta_l``.

    A layer whose delta is ``None`` gets zeros.
    """
    out: dict[str, Tensor] = {}
    for name, x, d in zip(fp.layer_names, fp.inputs, deltas):
        layer = model.linear(name)
        if d is None:
            out[f"layers.{name}.weight"] = torch.zeros_like(layer.weight)
            if layer.bias is not None:
                out[f"layers.{name}.bias"] = torch.zeros_like(layer.bias)
            continue
        out[f"layers.{name}.weight"] = d.t().mm(x.detach())
        if layer.bias is not None:
            out[f"layers.{name}.bias"] = d.sum(0)
    return out


def feedforward_capabilities(spec: FeedforwardSpec) -> frozenset[str]:
    return frozenset({"torch", "layered", "layer_feedback"})


def _check_task(spec: FeedforwardSpec, task) -> str | None:
    if spec.sizes[0] != task.n_in or spec.sizes[-1] != task.n_out:
        return (f"model '{spec.name}' maps {spec.sizes[0]} -> {spec.sizes[-1]} units but task "
                f"'{task.name}' has {task.n_in} inputs and {task.n_out} outputs.")
    return None


KIND = ModelKind(
    name="feedforward",
    spec_type=FeedforwardSpec,
    from_dict=feedforward_spec_from_dict,
    build=lambda spec, generator: FeedforwardNet(spec, generator),
    check_task=_check_task,
    capabilities=feedforward_capabilities,
)
