"""MNIST when the user gives ``--data-dir``, the bundled digits otherwise: one protocol
that runs anywhere and reproduces the paper's setting where MNIST is at hand.

Without a data folder the digits are resized to MNIST's 28x28 (see
:class:`bioplaus.tasks.Digits`, ``side=28``), so the same 784-input network runs on
both. Which data a run used is decided before the run is stored
(:meth:`MNISTOrDigits.resolve`, called by :func:`bioplaus.execute.run_protocol`): the
stored configuration says ``"task": "mnist"`` or ``"task": "digits"``, so a store never
mixes the two under one configuration (a digits run and an MNIST run of the same
protocol conflict in one store; use another ``--store``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bioplaus.tasks.base import Task, TaskInstance
from bioplaus.tasks.digits import Digits
from bioplaus.tasks.mnist import MNIST


@dataclass
class MNISTOrDigits(Task):
    """``MNIST(image, train_eval_size)`` with ``--data-dir``, else ``Digits(image, side=28)``."""

    image: bool = False
    train_eval_size: int = 10000

    name = "mnist_or_digits"
    kind = "classification"
    n_in = 784
    n_out = 10

    def resolve(self, data_dir: str | None) -> Task:
        if data_dir is not None:
            return MNIST(image=self.image, train_eval_size=self.train_eval_size)
        return Digits(image=self.image, side=28)

    def check(self, data_dir: str | None) -> None:
        self.resolve(data_dir).check(data_dir)

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        return self.resolve(data_dir).instantiate(generator, data_dir, device, batch_size)

    def config(self) -> dict:
        return {"task": self.name, "image": self.image, "train_eval_size": self.train_eval_size}


def mnist_or_digits(image: bool = False) -> MNISTOrDigits:
    """The task for protocols that reproduce an MNIST result: MNIST from ``--data-dir`` when
    given, else the bundled 8x8 digits resized to 28x28 (784 inputs either way)."""
    return MNISTOrDigits(image=image)
