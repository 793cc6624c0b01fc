"""Fixtures shared by the test files: small networks built from a spec and a seed, and
the autograd gradient that rules are checked against."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch

from bioplaus import models
from bioplaus.rate.energy import EnergyNet
from bioplaus.rate.energy_spec import EnergySpec
from bioplaus.rate.feedforward import FeedforwardNet
from bioplaus.rate.spec import FeedforwardSpec


def build_feedforward_net(sizes: Sequence[int], activation: str = "tanh", *, bias: bool = True, seed: int = 0,
                          dtype: torch.dtype = torch.float64) -> FeedforwardNet:
    """A layered net ``sizes[0] -> ... -> sizes[-1]``: ``activation`` on every hidden layer, a linear read-out,
    the spec's default initialisation drawn from ``torch.Generator().manual_seed(seed)``; float64 by default so
    that identities hold to 1e-12."""
    spec = FeedforwardSpec(name="test", sizes=tuple(sizes), activations=(activation,) * (len(sizes) - 2) + ("linear",),
                           bias=bias)
    return models.build(spec, torch.Generator().manual_seed(seed)).to(dtype)


def build_energy_net(formulation: str = "energy", sizes: Sequence[int] = (6, 8, 7, 4), seed: int = 0,
                     tolerance: float = 1e-14, step_size: float = 0.5, init_scale: float = 1.0, max_steps: int = 20000,
                     bias: bool = True) -> EnergyNet:
    """A float64 sigmoid energy net relaxed to ``tolerance`` (``max |s_{t+1} - s_t|``) in at most ``max_steps``
    steps, free and nudged phases alike."""
    spec = EnergySpec(name="test", sizes=tuple(sizes), formulation=formulation, activation="sigmoid", dtype="float64",
                      tolerance=tolerance, max_steps=max_steps, nudged_max_steps=max_steps, step_size=step_size,
                      init_scale=init_scale, bias=bias)
    return models.build(spec, torch.Generator().manual_seed(seed))


def gradient_by_autograd(net: torch.nn.Module, batch) -> dict[str, torch.Tensor]:
    """``d batch.loss(net(batch.x)) / d p`` for every named parameter, by ``torch.autograd.grad``."""
    params = dict(net.named_parameters())
    grads = torch.autograd.grad(batch.loss(net(batch.x)), list(params.values()))
    return dict(zip(params, grads))


@pytest.fixture
def make_net() -> Callable[..., FeedforwardNet]:
    """Factory of layered feedforward nets: ``make_net(sizes, activation="tanh", bias=True, seed=0, dtype=float64)``."""
    return build_feedforward_net


@pytest.fixture
def make_energy_net() -> Callable[..., EnergyNet]:
    """Factory of energy nets: ``make_energy_net(formulation="energy", sizes=(6, 8, 7, 4), seed=0, tolerance=1e-14, ...)``."""
    return build_energy_net


@pytest.fixture
def autograd_gradient() -> Callable[[torch.nn.Module, object], dict[str, torch.Tensor]]:
    """``autograd_gradient(net, batch)``: the gradient of the batch's loss by autograd, keyed like ``named_parameters()``."""
    return gradient_by_autograd
