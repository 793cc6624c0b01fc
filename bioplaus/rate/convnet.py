"""Small convolutional rate networks, the ``convnet`` model kind.

``conv -> activation -> max-pool`` blocks, then a linear read-out of the flattened
features, as an ``nn.Sequential`` with named layers (``conv1, act1, pool1, ...,
flatten, output``). The model knows nothing about learning rules: layered rules reach
its ``nn.Conv2d`` and ``nn.Linear`` layers through :func:`bioplaus.wrap`, which their
``setup`` applies. A spec file::

    kind = "convnet"
    description = "two conv layers and a linear read-out for the 8x8 digits"
    input_shape = [1, 8, 8]      # channels, height, width
    channels = [16, 32]          # output channels of each conv layer
    kernel_size = 3
    padding = 1
    pool = 2                     # max-pool window after each conv layer (1: none)
    activation = "relu"
    n_out = 10
    bias = true
    init_scale = 1.0             # gain of the Glorot-uniform initialisation
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bioplaus.core import TorchModel
from bioplaus.errors import BioplausError, allowed
from bioplaus.model_kind import ModelKind, check_fields, spec_dict

CONV_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


@dataclass(frozen=True)
class ConvNetSpec:
    """A ``convnet`` model; see the module docstring for the fields."""

    name: str
    input_shape: tuple[int, int, int]
    channels: tuple[int, ...]
    n_out: int
    kernel_size: int = 3
    padding: int = 1
    pool: int = 2
    activation: str = "relu"
    bias: bool = True
    init_scale: float = 1.0
    description: str = ""
    kind: str = "convnet"

    def to_dict(self) -> dict[str, Any]:
        return spec_dict(self)

    def feature_shape(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` after the last block, or raises if the image shrinks to nothing."""
        c, h, w = self.input_shape
        for ch in self.channels:
            h = (h + 2 * self.padding - self.kernel_size + 1) // self.pool
            w = (w + 2 * self.padding - self.kernel_size + 1) // self.pool
            c = ch
        return c, h, w


class ConvNet(nn.Sequential, TorchModel):
    """The network of a :class:`ConvNetSpec`; ``input_shape`` is one input's ``(C, H, W)``."""

    def __init__(self, spec: ConvNetSpec, generator: torch.Generator | None = None):
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        c_in = spec.input_shape[0]
        for i, c_out in enumerate(spec.channels, start=1):
            layers[f"conv{i}"] = nn.Conv2d(c_in, c_out, spec.kernel_size, padding=spec.padding, bias=spec.bias)
            layers[f"act{i}"] = CONV_ACTIVATIONS[spec.activation]()
            if spec.pool > 1:
                layers[f"pool{i}"] = nn.MaxPool2d(spec.pool)
            c_in = c_out
        layers["flatten"] = nn.Flatten()
        layers["output"] = nn.Linear(math.prod(spec.feature_shape()), spec.n_out, bias=spec.bias)
        super().__init__(layers)
        self.spec = spec
        self.capabilities = CAPABILITIES
        self.input_shape = tuple(spec.input_shape)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Glorot-uniform weights (receptive fields counted) times ``init_scale``, zero biases, drawn from ``generator``."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                w = m.weight
                receptive = w[0, 0].numel() if w.dim() > 2 else 1
                bound = self.spec.init_scale * math.sqrt(6.0 / ((w.shape[0] + w.shape[1]) * receptive))
                w.copy_((torch.rand(w.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.zero_()


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "kind": (str, "a string"),
    "name": (str, "a string"),
    "description": (str, "a string"),
    "input_shape": (list, "a list of three positive integers [channels, height, width]"),
    "channels": (list, "a list of positive integers"),
    "n_out": (int, "a positive integer"),
    "kernel_size": (int, "a positive integer"),
    "padding": (int, "a non-negative integer"),
    "pool": (int, "a positive integer"),
    "activation": (str, "a string"),
    "bias": (bool, "true or false"),
    "init_scale": ((int, float), "a positive number"),
}


def convnet_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> ConvNetSpec:
    """Validate a parsed TOML table of kind ``convnet``; errors name ``source``, the field and what is allowed."""

    def fail(field: str, msg: str) -> BioplausError:
        return BioplausError(f"{source}: field '{field}' {msg}")

    check_fields(data, _FIELDS, source, "a convnet model spec", required=("input_shape", "channels", "n_out"))

    def positive_ints(v: Any) -> bool:
        return all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in v)

    shape = data["input_shape"]
    if len(shape) != 3 or not positive_ints(shape):
        raise fail("input_shape", f"must be {_FIELDS['input_shape'][1]}, got {shape!r}.")
    channels = data["channels"]
    if not channels or not positive_ints(channels):
        raise fail("channels", f"must list at least one positive integer, got {channels!r}.")
    for key, low in (("n_out", 1), ("kernel_size", 1), ("padding", 0), ("pool", 1)):
        if key in data and data[key] < low:
            raise fail(key, f"must be {_FIELDS[key][1]}, got {data[key]!r}.")
    act = data.get("activation", "relu")
    if act not in CONV_ACTIVATIONS:
        raise fail("activation", f"is {act!r}; allowed values are {allowed(CONV_ACTIVATIONS)}.")
    scale = float(data.get("init_scale", 1.0))
    if not scale > 0:
        raise fail("init_scale", f"must be a positive number, got {scale!r}.")
    spec = ConvNetSpec(
        name=data.get("name", default_name), input_shape=tuple(shape), channels=tuple(channels), n_out=data["n_out"],
        kernel_size=data.get("kernel_size", 3), padding=data.get("padding", 1), pool=data.get("pool", 2),
        activation=act, bias=data.get("bias", True), init_scale=scale, description=data.get("description", ""),
    )
    if min(spec.feature_shape()[1:]) < 1:
        raise fail("channels", f"has {len(channels)} conv blocks, which shrink the {shape[1]}x{shape[2]} input to nothing "
                               f"(kernel_size {spec.kernel_size}, padding {spec.padding}, pool {spec.pool}).")
    return spec


def _check_task(spec: ConvNetSpec, task) -> str | None:
    if not getattr(task, "image", False):
        return f"model '{spec.name}' is a convnet and needs image inputs; use a task with image=True, e.g. tasks.Digits(image=True)."
    if math.prod(spec.input_shape) != task.n_in or spec.n_out != task.n_out:
        return (f"model '{spec.name}' maps {list(spec.input_shape)} images to {spec.n_out} outputs but task "
                f"'{task.name}' has {task.n_in} inputs and {task.n_out} outputs.")
    return None


#: a convnet learns with any layer-feedback rule through :func:`bioplaus.wrap`
CAPABILITIES = frozenset({"torch", "layer_feedback"})


KIND = ModelKind(
    name="convnet",
    spec_type=ConvNetSpec,
    from_dict=convnet_spec_from_dict,
    build=lambda spec, generator: ConvNet(spec, generator),
    check_task=_check_task,
    capabilities=lambda spec: CAPABILITIES,
)
