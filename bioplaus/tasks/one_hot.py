"""A classification task scored with the squared error to one-hot targets, the cost of
Scellier & Bengio 2017 (``C = 1/2 |y - s_out|^2``) and of the energy-based learning
algorithms compared by Scellier, Ernoult, Kendall & Kumar 2023.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.nn.functional as F
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.tasks.base import Task, TaskInstance


def one_hot_squared_error(output: Tensor, target: Tensor) -> Tensor:
    """``1/2 |output - onehot(target)|^2`` summed over outputs, mean over the batch; ``target``: class indices ``(batch,)``."""
    y = F.one_hot(target, output.shape[1]).to(output.dtype)
    return 0.5 * (output - y).square().sum(1).mean()


@dataclass
class OneHotSquaredError(Task):
    """``task`` (a classification task, e.g. ``tasks.Digits()``) with :func:`one_hot_squared_error` as its loss.

    Targets stay class indices, so accuracy is measured as for the task itself.
    """

    task: Task

    def __post_init__(self) -> None:
        if not isinstance(self.task, Task) or self.task.kind != "classification":
            raise ValueError(f"OneHotSquaredError needs a classification task, got {self.task!r}")
        self.name, self.kind, self.n_in, self.n_out = self.task.name, "classification", self.task.n_in, self.task.n_out

    def config(self) -> dict[str, Any]:
        return {**self.task.config(), "loss": "one_hot_squared_error"}

    def check(self, data_dir: str | None) -> None:
        self.task.check(data_dir)

    def instantiate(self, generator, data_dir, device, batch_size) -> TaskInstance:
        inner = self.task.instantiate(generator, data_dir, device, batch_size)

        def next_batch() -> Batch:
            b = inner.next_batch()
            return Batch(b.x, b.y, one_hot_squared_error)

        return TaskInstance(one_hot_squared_error, next_batch, inner.test, inner.train_eval, inner.n_train, inner.classification)
