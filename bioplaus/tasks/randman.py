"""Random manifolds (Randman; Zenke & Vogels 2021, Neural Comput. 33:899): classes of spike-timing patterns on smooth random manifolds.

Generated from the definition in the authors' ``randman`` repository (read, not copied): each class
``c`` is a smooth random map from a ``dim``-dimensional latent cube ``[0, 1]^dim`` to ``n_units``
spike times. Unit ``i`` of class ``c`` gets ``f_ci(u) = prod_d g_cid(u_d)`` with the 1-d random
functions ``g(x) = sum_(k=0)^(F-1) a_k (k + 1)^(-alpha) sin(2 pi (k x b_k + p_k))``, ``a, b, p ~ U(0, 1)``
(``a_0 = 0``: no offset), ``F = min(ceil(1e-3^(-1/alpha)), 1000)`` frequencies, ``alpha`` the smoothness
(the power spectrum's fall-off). A sample of class ``c`` draws ``u ~ U[0, 1]^dim``; each unit's value,
min-max scaled over the class's samples, sets the step of its single spike,
``round(value (time_steps - 1))``. All information is in the relative timing of the spikes (one spike
per unit, so spike counts carry none). Inputs ``(batch, time_steps, n_units)``; ``n_per_class``
samples per class, of which ``test_fraction`` are held out for the test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bioplaus.errors import BioplausError
from bioplaus.tasks.base import Task, TaskInstance, cross_entropy, epoch_batches


def randman_values(params: Tensor, u: Tensor, alpha: float) -> Tensor:
    """``f_ci(u)`` for one class: ``params`` ``(n_units, dim, 3, F)`` (amplitudes, frequencies, phases), ``u`` ``(N, dim)``
    -> ``(N, n_units)`` (float64); the module docstring's formula, batched over samples, units and frequencies."""
    amp, freq, phase = params[:, :, 0], params[:, :, 1], params[:, :, 2]  # (n_units, dim, F)
    k = torch.arange(params.shape[-1], dtype=params.dtype)
    falloff = (k + 1.0) ** (-alpha)
    arg = 2 * math.pi * (k * u[:, None, :, None] * freq + phase)  # (N, n_units, dim, F)
    return (amp * falloff * torch.sin(arg)).sum(-1).prod(-1)


@dataclass
class Randman(Task):
    """Spike-timing classes on smooth random manifolds (see the module docstring)."""

    n_classes: int = 10
    n_units: int = 20
    dim: int = 1
    alpha: float = 2.0
    time_steps: int = 50
    n_per_class: int = 500
    test_fraction: float = 0.2

    name = "randman"
    kind = "classification"
    temporal = True

    def __post_init__(self) -> None:
        if self.dim < 1 or self.n_classes < 2 or self.n_units < 1 or not self.alpha > 0 or not 0 < self.test_fraction < 1:
            raise BioplausError(f"task 'randman': dim {self.dim!r}, n_classes {self.n_classes!r}, n_units {self.n_units!r}, "
                                f"alpha {self.alpha!r}, test_fraction {self.test_fraction!r}; allowed values are dim >= 1, "
                                "n_classes >= 2, n_units >= 1, alpha > 0 and 0 < test_fraction < 1.")

    @property
    def n_in(self) -> int:
        return self.n_units

    @property
    def n_out(self) -> int:
        return self.n_classes

    def config(self) -> dict:
        return {"task": self.name, "n_classes": self.n_classes, "n_units": self.n_units, "dim": self.dim, "alpha": self.alpha,
                "time_steps": self.time_steps, "n_per_class": self.n_per_class, "test_fraction": self.test_fraction}

    def sample(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """All samples: spikes ``(n_classes n_per_class, time_steps, n_units)`` (float32) and classes, shuffled."""
        frequencies = int(min(math.ceil(1e-3 ** (-1.0 / self.alpha)), 1000))
        xs, ys = [], []
        for c in range(self.n_classes):  # a handful of classes; samples and units are batched
            params = torch.rand((self.n_units, self.dim, 3, frequencies), generator=generator, dtype=torch.float64)
            params[:, :, 0, 0] = 0.0
            u = torch.rand((self.n_per_class, self.dim), generator=generator, dtype=torch.float64)
            values = randman_values(params, u, self.alpha)
            lo, hi = values.min(0).values, values.max(0).values
            step = torch.round((values - lo) / (hi - lo) * (self.time_steps - 1)).to(torch.int64)
            spikes = torch.zeros((self.n_per_class, self.time_steps, self.n_units))
            spikes.scatter_(1, step[:, None, :], 1.0)
            xs.append(spikes)
            ys.append(torch.full((self.n_per_class,), c, dtype=torch.int64))
        order = torch.randperm(self.n_classes * self.n_per_class, generator=generator)
        return torch.cat(xs)[order], torch.cat(ys)[order]

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        x, y = self.sample(generator)
        x, y = x.to(device), y.to(device)
        n_test = round(self.test_fraction * x.shape[0])
        x_test, y_test, x_train, y_train = x[:n_test], y[:n_test], x[n_test:], y[n_test:]
        return TaskInstance(cross_entropy, epoch_batches(x_train, y_train, batch_size, generator, cross_entropy),
                            (x_test, y_test), (x_train[:1000], y_train[:1000]), x_train.shape[0], classification=True)
