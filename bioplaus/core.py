"""The small shared types every layer speaks: a minibatch and a run's result rows.

Tasks make :class:`Batch` es, models score them, rules estimate gradients on them, the run
loop hands a :class:`RunResult` to the store. This module imports nothing of bioplaus, so
tasks, models, rules, metrics and the Brian2 engine can all use it without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from torch import Tensor

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
