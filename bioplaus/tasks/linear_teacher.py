"""Linear teacher-student regression (Lillicrap et al. 2016, Fig. 2; Fig. 1d-e of arXiv:1411.0247).

A fixed random linear teacher ``T`` (``n_out x n_in``, entries ``U(-1, 1)``) maps
Gaussian inputs ``x ~ N(0, I)`` to targets ``y = T x``; the loss is
``1/2 |y_hat - y|^2`` summed over outputs, mean over the batch. Every batch is fresh
samples; the teacher and the test set are fixed per seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bioplaus.core import Batch
from bioplaus.tasks.base import Task, TaskInstance, squared_error


@dataclass
class LinearTeacher(Task):
    """Args: ``n_in``, ``n_out``: teacher sizes; ``teacher_scale``: entries of T are
    ``U(-teacher_scale, teacher_scale)``; ``n_test``: size of the fixed test set;
    the batch size is the protocol's."""

    n_in: int = 30
    n_out: int = 10
    teacher_scale: float = 1.0
    n_test: int = 1000

    name = "linear_teacher"
    kind = "regression"

    def config(self) -> dict:
        return {"task": self.name, "n_in": self.n_in, "n_out": self.n_out, "teacher_scale": self.teacher_scale, "n_test": self.n_test}

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        t = (torch.rand((self.n_out, self.n_in), generator=generator, dtype=torch.float64) * 2 - 1) * self.teacher_scale
        t = t.to(torch.float32)
        x_test = torch.randn((self.n_test, self.n_in), generator=generator)
        test = (x_test.to(device), (x_test @ t.t()).to(device))
        t_dev = t.to(device)

        def next_batch() -> Batch:
            x = torch.randn((batch_size, self.n_in), generator=generator).to(device)
            return Batch(x, x @ t_dev.t(), squared_error)

        return TaskInstance(squared_error, next_batch, test, None, None, classification=False)
