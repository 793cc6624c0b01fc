"""What a task gives a run: batches in a seed-determined order, a loss, and evaluation.

A :class:`Task` is a description (picklable, stored as config); ``instantiate``
turns it into a :class:`TaskInstance` holding the data for one run, drawn from the
run's data stream (so the batch order depends on the seed, never on the rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from bioplaus.core import Batch


def squared_error(output: Tensor, target: Tensor) -> Tensor:
    """``1/2 |y_hat - y|^2`` summed over outputs, mean over the batch (Lillicrap et al. 2016)."""
    return 0.5 * (output - target).square().sum(1).mean()


def cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    """Softmax cross-entropy of logits ``(batch, classes)`` against class indices, mean over the batch."""
    return F.cross_entropy(output, target)


class Task:
    """Base class. Subclasses set ``name``, ``kind`` (``regression`` or ``classification``),
    ``n_in`` and ``n_out`` and implement :meth:`instantiate`."""

    name = "task"
    kind = "regression"
    n_in = 0
    n_out = 0

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> "TaskInstance":
        """The data of one run, drawn from ``generator`` (the run's data stream)."""
        raise NotImplementedError

    def check(self, data_dir: str | None) -> None:
        """Fail early, with a clear error, if the task's data cannot be had."""

    def config(self) -> dict[str, Any]:
        return {"task": self.name}

    @property
    def metrics(self) -> tuple[str, ...]:
        if self.kind == "classification":
            return ("loss", "test_loss", "train_accuracy", "test_accuracy")
        return ("loss", "test_loss")


@dataclass
class TaskInstance:
    """Data of one run.

    ``next_batch()`` yields batches in the run's fixed order; ``train_eval`` and
    ``test`` are ``(x, y)`` pairs for evaluation; ``n_train`` is the size of an epoch
    (``None`` for tasks that draw fresh samples every step).
    """

    loss_fn: Callable[[Tensor, Tensor], Tensor]
    next_batch: Callable[[], Batch]
    test: tuple[Tensor, Tensor]
    train_eval: tuple[Tensor, Tensor] | None
    n_train: int | None
    classification: bool

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """``test_loss`` and, for classification, ``test_accuracy`` and ``train_accuracy``."""
        x, y = self.test
        out = model(x)
        result = {"test_loss": float(self.loss_fn(out, y))}
        if self.classification:
            result["test_accuracy"] = float((out.argmax(1) == y).to(torch.float64).mean())
            if self.train_eval is not None:
                xt, yt = self.train_eval
                result["train_accuracy"] = float((model(xt).argmax(1) == yt).to(torch.float64).mean())
        return result


def epoch_batches(x: Tensor, y: Tensor, batch_size: int, generator: torch.Generator, loss_fn) -> Callable[[], Batch]:
    """Batches of a fixed dataset, reshuffled each epoch from ``generator``; the last partial batch is dropped."""
    n = x.shape[0]
    per_epoch = max(n // batch_size, 1)
    state = {"perm": None, "i": per_epoch}

    def next_batch() -> Batch:
        if state["i"] >= per_epoch:
            state["perm"] = torch.randperm(n, generator=generator).to(x.device)
            state["i"] = 0
        idx = state["perm"][state["i"] * batch_size : (state["i"] + 1) * batch_size]
        state["i"] += 1
        return Batch(x[idx], y[idx], loss_fn)

    return next_batch


def classification_instance(x_train: Tensor, y_train: Tensor, x_test: Tensor, y_test: Tensor, generator: torch.Generator,
                            batch_size: int, train_eval: tuple[Tensor, Tensor] | None = None) -> TaskInstance:
    """The :class:`TaskInstance` of a fixed classification dataset: softmax cross-entropy, batches reshuffled each
    epoch from ``generator``, ``test_*`` on ``(x_test, y_test)`` and ``train_accuracy`` on ``train_eval`` (default:
    the whole training set)."""
    return TaskInstance(
        cross_entropy,
        epoch_batches(x_train, y_train, batch_size, generator, cross_entropy),
        test=(x_test, y_test),
        train_eval=(x_train, y_train) if train_eval is None else train_eval,
        n_train=x_train.shape[0],
        classification=True,
    )

