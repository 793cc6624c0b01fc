"""A stochastic binary unit and a fixed target: the toy problem of REBAR and RELAX (Tucker et al. 2017;
Grathwohl et al. 2018, Fig. 1).

Minimise ``E_b[(b - t)^2]`` over the unit's logit ``phi``, ``b ~ Bernoulli(sigmoid(phi))``. Every example is the
same: input ``x = 0`` (one feature, so the logit is the hidden unit's bias alone) and target ``t``; the loss of an
output ``o`` is ``(o - t)^2`` summed over outputs, mean over the batch. On a stochastic model with the identity
read-out (``models/relax_toy.toml``) the per-example loss is ``f(b) = (b - t)^2`` and its relaxation
``f(sigmoid(z / lambda))`` is the one the papers use.

Since ``b^2 = b``, ``E[(b - t)^2] = t^2 + theta (1 - 2 t)`` with ``theta = sigmoid(phi)``: for ``t < 1/2`` the
optimum is ``theta -> 0`` and the loss gap to it is ``theta (1 - 2 t)`` (``0.002 theta`` at ``t = 0.499``), and
the exact gradient is ``theta (1 - theta) (1 - 2 t)``. Evaluated: ``test_loss`` (the exact expected loss, by
the model's enumeration), ``firing_probability`` (``theta``) and ``loss_gap`` (``test_loss - t^2``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.tasks.base import Task, TaskInstance


def summed_squared_error(output: Tensor, target: Tensor) -> Tensor:
    """``|y_hat - y|^2`` summed over outputs (no 1/2), mean over the batch: ``(b - t)^2`` per example."""
    return (output - target).square().sum(1).mean()


class _TargetInstance(TaskInstance):
    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        x, y = self.test
        expected = float(model.expected_loss(Batch(x, y, self.loss_fn)))
        t2 = float(y.square().sum(1).mean())
        return {"test_loss": expected, "firing_probability": float(torch.sigmoid(model.logits(x)).mean()),
                "loss_gap": expected - t2}


@dataclass
class BernoulliTarget(Task):
    """Args: ``target``: ``t`` (Grathwohl et al. 2018 use 0.499). For a stochastic model with one unit and
    the identity read-out; the batch size is the protocol's (the papers' toy uses 1)."""

    target: float = 0.499

    name = "bernoulli_target"
    kind = "regression"
    n_in = 1
    n_out = 1

    def __post_init__(self) -> None:
        if isinstance(self.target, bool) or not isinstance(self.target, (int, float)) or not 0 <= self.target <= 1:
            raise BioplausError(f"task 'bernoulli_target': field 'target' must be a number in [0, 1], got {self.target!r}.")

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("loss", "test_loss", "firing_probability", "loss_gap")

    def config(self) -> dict:
        return {"task": self.name, "target": self.target}

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        x = torch.zeros((batch_size, 1), device=device)
        y = torch.full((batch_size, 1), float(self.target), device=device)
        test = (x[:1], y[:1])
        return _TargetInstance(summed_squared_error, lambda: Batch(x, y, summed_squared_error), test, None, None,
                               classification=False)
