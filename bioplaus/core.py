"""The small shared types every layer speaks: a minibatch and a run's result rows.

Tasks make :class:`Batch` es, models score them, rules estimate gradients on them, the run
loop hands a :class:`RunResult` to the store. This module imports nothing of bioplaus, so
tasks, models, rules, metrics and the Brian2 engine can all use it without importing
each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

#: one metric row: ``(step, epoch or None, metric, layer, value)``
Row = tuple[int, float | None, str, str, float]


@dataclass(frozen=True)
class Batch:
    """A minibatch and the loss it is scored with.

    ``x``: inputs ``(batch, n_in)`` (or ``(batch, time, n_in)`` for sequences); ``y``:
    targets (``(batch, n_out)`` floats for regression, ``(batch,)`` class indices for
    classification); ``loss_fn(output, y)`` returns the scalar loss (mean over the batch).
    """

    x: Tensor
    y: Tensor
    loss_fn: Callable[[Tensor, Tensor], Tensor]

    def loss(self, output: Tensor) -> Tensor:
        return self.loss_fn(output, self.y)


@dataclass
class RunResult:
    """What a run hands back to the store: its status, metric rows and arrays."""

    status: str  # "done" or "diverged"
    rows: list[Row] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    diverged_step: int | None = None
    duration_s: float = 0.0
    steps_done: int = 0


def layer_of(param_name: str) -> str:
    """The layer a parameter belongs to: ``layers.hidden1.weight`` -> ``hidden1``; else its module path."""
    parts = param_name.split(".")
    if parts[0] == "layers" and len(parts) == 3:
        return parts[1]
    return ".".join(parts[:-1]) or parts[0]


_EXACT_BACKWARD: ContextVar[bool] = ContextVar("bioplaus_exact_backward", default=False)


@contextlib.contextmanager
def exact_backward() -> Iterator[None]:
    """Inside this context every layer whose backward a rule replaced (:func:`bioplaus.wrap`) backpropagates
    exactly, so autograd gives the model's true gradient: how a model forms its reference gradient
    without knowing which rule, if any, wrapped it."""
    token = _EXACT_BACKWARD.set(True)
    try:
        yield
    finally:
        _EXACT_BACKWARD.reset(token)


def in_exact_backward() -> bool:
    """Whether :func:`exact_backward` is active."""
    return _EXACT_BACKWARD.get()


def autograd_gradient(model: nn.Module, batch: Batch) -> dict[str, Tensor]:
    """``d loss / d param`` of ``batch.loss(model(batch.x))`` for every parameter, by autograd with every
    wrapped layer exact (zeros for parameters the loss does not depend on), keyed as ``named_parameters()``."""
    params = dict(model.named_parameters())
    with exact_backward():
        grads = torch.autograd.grad(batch.loss(model(batch.x)), list(params.values()), allow_unused=True)
    return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params.items(), grads)}


class TorchModel(nn.Module):
    """What every torch model of bioplaus shares (the model side of DESIGN.md's interfaces).

    Subclasses set ``spec`` and give ``capabilities`` (names from :data:`bioplaus.models.CAPABILITIES`).
    ``reference_gradient(batch)`` is the exact gradient of the model's loss on ``batch``: by
    default autograd through ``forward`` with every wrapped layer exact (for an energy net that
    is implicit differentiation at the fixed point, for a recurrent net BPTT); a model with a
    cheaper exact route (per-layer deltas) overrides it. ``project(estimate)`` maps a gradient
    with respect to the stored parameters to the update of the model's effective
    parameterisation; the identity unless a subclass constrains its parameters.
    """

    capabilities: frozenset[str] = frozenset({"torch"})

    def reference_gradient(self, batch: Batch) -> dict[str, Tensor]:
        return autograd_gradient(self, batch)

    def project(self, estimate: dict[str, Tensor]) -> dict[str, Tensor]:
        return estimate
