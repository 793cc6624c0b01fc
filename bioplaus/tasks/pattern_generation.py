"""Pattern generation: a frozen input spike pattern to be turned into a fixed target signal.

The supervised regression task of Bellec et al. 2020's e-prop tutorials (the authors'
repository ``IGITUGraz/eligibility_propagation``): a recurrent spiking network receives one fixed
pattern of Poisson input spikes and learns to produce, on its leaky read-out, one fixed target
curve, a sum of sinusoids. Here the pattern (``n_in`` channels at ``rate_hz``) and the target
(``sum_k A_k sin(2 pi f_k t + phi_k)`` over ``frequencies_hz``, ``A_k ~ U(0.5, 2)``,
``phi_k ~ U(0, 2 pi)``, scaled to unit peak) are drawn once per run from the data stream, and
every batch is that one sequence (``(1, T, n_in)``; ``batch_size`` does not apply). The loss is
:class:`~bioplaus.tasks.sequence.SequenceSquaredError`; ``test_loss`` is the same sequence's loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.tasks.base import Task, TaskInstance
from bioplaus.tasks.sequence import SequenceTaskInstance, sequence_squared_error


@dataclass
class PatternGeneration(Task):
    """One frozen Poisson input pattern -> one fixed sum of sinusoids (see the module docstring)."""

    n_in: int = 20
    duration_ms: float = 250.0
    dt_ms: float = 1.0
    rate_hz: float = 50.0
    frequencies_hz: tuple[float, ...] = (4.0, 8.0, 12.0, 20.0)

    name = "pattern_generation"
    kind = "regression"
    sequence = True
    n_out = 1

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("loss", "test_loss")

    def sequence_length(self) -> int:
        return round(self.duration_ms / self.dt_ms)

    def config(self) -> dict:
        return {"task": self.name, "n_in": self.n_in, "duration_ms": self.duration_ms, "dt_ms": self.dt_ms,
                "rate_hz": self.rate_hz, "frequencies_hz": list(self.frequencies_hz)}

    def sample(self, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """The frozen pattern ``(1, T, n_in)`` (spikes, float32) and its target ``(1, T, 1)``."""
        steps = self.sequence_length()
        x = (torch.rand((1, steps, self.n_in), generator=generator) < self.rate_hz * self.dt_ms / 1000.0).to(torch.float32)
        t_s = torch.arange(1, steps + 1, dtype=torch.float64) * self.dt_ms / 1000.0
        k = len(self.frequencies_hz)
        amp = 0.5 + 1.5 * torch.rand(k, generator=generator, dtype=torch.float64)
        phase = 2 * math.pi * torch.rand(k, generator=generator, dtype=torch.float64)
        freq = torch.tensor(self.frequencies_hz, dtype=torch.float64)
        y = (amp * torch.sin(2 * math.pi * freq * t_s[:, None] + phase)).sum(1)
        return x, (y / y.abs().max()).to(torch.float32)[None, :, None]

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        x, y = self.sample(generator)
        x, y = x.to(device), y.to(device)
        return SequenceTaskInstance(sequence_squared_error, lambda: Batch(x, y, sequence_squared_error), (x, y), None, None,
                                    classification=False)
