"""The Yin-Yang task (Kriener, Goeltz & Petrovici 2022) for spiking networks: points drawn from the run's data stream, spike-encoded.

The geometry is :mod:`bioplaus.tasks.yin_yang`'s (the rate dataset with the published seeds);

Points ``(x, y)`` are drawn uniformly in the square ``[0, 2 r_big]^2`` (``r_big = 0.5``,
``r_small = 0.1``) and kept inside the big circle; each belongs to one of three classes: the two
dots (class 2, within ``r_small`` of ``(0.5 r_big, r_big)`` or ``(1.5 r_big, r_big)``), yin
(class 0: within ``r_small`` of the right dot, or outside the left dot and within ``r_big / 2`` of
its centre, or above the centre line and farther than ``r_big / 2`` from the right dot's centre) and
yang (class 1, the rest). The target class of each sample is drawn uniformly first, so the classes
are balanced, as in the dataset's reference code. Inputs are ``(x, y, 1 - x, 1 - y)``.

Sizes default to the dataset's 5,000 / 1,000 / 1,000 (train / validation / test); the samples are
drawn from the run's data stream, not from the reference code's numpy seeds 42 / 41 / 40, so
they are other draws from the same distribution. Published non-spiking references
(the dataset's README): a 4-120-3 ANN 98.7 +- 0.3 %, a shallow (linear) network 64.3 +- 0.2 %.

Encodings: ``values`` (``(batch, 4)``, for rate networks) or ``ttfs`` (time to first spike,
``(batch, T, 4)``: each input spikes once, at step ``round(value (encode_steps - 1))``, followed by
``T - encode_steps`` steps without input in which the network can still respond).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from bioplaus.errors import BioplausError, allowed
from bioplaus.tasks.base import Task, TaskInstance, cross_entropy, epoch_batches
from bioplaus.tasks.yin_yang import yin_yang_class as dataset_class

ENCODINGS = ("values", "ttfs")
R_BIG, R_SMALL = 0.5, 0.1


def yin_yang_class(x: Tensor, y: Tensor) -> Tensor:
    """Class of points ``(x, y)`` (any shape, same shape out, int64): 0 yin, 1 yang, 2 dots. The rate dataset's rule
    (:func:`bioplaus.tasks.yin_yang.yin_yang_class`) with yin and yang numbered the other way round."""
    rate_class = torch.from_numpy(dataset_class(x.double().cpu().numpy(), y.double().cpu().numpy(), R_SMALL, R_BIG))
    return torch.where(rate_class == 2, 2, 1 - rate_class).to(x.device)


def yin_yang_points(generator: torch.Generator, count: int) -> tuple[Tensor, Tensor]:
    """``count`` points ``(count, 2)`` (float64) and classes ``(count,)``, each class drawn uniformly first."""
    goal = torch.randint(0, 3, (count,), generator=generator)
    points = torch.empty((count, 2), dtype=torch.float64)
    for cls in range(3):
        need = int((goal == cls).sum())
        found = []
        while need > 0:  # rejection sampling in blocks (the dots cover ~4 % of the disc)
            cand = torch.rand((max(64, 40 * need), 2), generator=generator, dtype=torch.float64) * 2 * R_BIG
            inside = torch.hypot(cand[:, 0] - R_BIG, cand[:, 1] - R_BIG) <= R_BIG
            keep = cand[inside & (yin_yang_class(cand[:, 0], cand[:, 1]) == cls)][:need]
            found.append(keep)
            need -= keep.shape[0]
        points[goal == cls] = torch.cat(found)
    return points, goal


@dataclass
class YinYangSpikes(Task):
    """Yin-Yang (see the module docstring); ``encoding``: ``values`` or ``ttfs`` (``time_steps``, ``encode_steps``)."""

    encoding: str = "ttfs"
    time_steps: int = 40
    encode_steps: int = 30
    n_train: int = 5000
    n_test: int = 1000
    n_train_eval: int = 1000

    name = "yin_yang_spikes"
    kind = "classification"
    n_in = 4
    n_out = 3

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise BioplausError(f"task 'yin_yang': encoding is {self.encoding!r}; allowed values are {allowed(ENCODINGS)}.")
        if not 1 <= self.encode_steps <= self.time_steps:
            raise BioplausError(f"task 'yin_yang': encode_steps is {self.encode_steps!r}; allowed values are 1 to time_steps = {self.time_steps}.")

    @property
    def temporal(self) -> bool:
        """Whether inputs are sequences ``(batch, T, 4)`` (the spike encoding)."""
        return self.encoding == "ttfs"

    def config(self) -> dict:
        return {"task": self.name, "encoding": self.encoding, "time_steps": self.time_steps, "encode_steps": self.encode_steps,
                "n_train": self.n_train, "n_test": self.n_test}

    def encode(self, points: Tensor) -> Tensor:
        """``(x, y, 1 - x, 1 - y)`` as values ``(batch, 4)`` or as first-spike times ``(batch, T, 4)`` (float32)."""
        values = torch.cat([points, 1.0 - points], 1)
        if self.encoding == "values":
            return values.to(torch.float32)
        step = torch.round(values * (self.encode_steps - 1)).to(torch.int64)
        spikes = torch.zeros((points.shape[0], self.time_steps, 4))
        spikes.scatter_(1, step[:, None, :], 1.0)
        return spikes

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        train_points, y_train = yin_yang_points(generator, self.n_train)
        test_points, y_test = yin_yang_points(generator, self.n_test)
        x_train, x_test = self.encode(train_points).to(device), self.encode(test_points).to(device)
        y_train, y_test = y_train.to(device), y_test.to(device)
        k = min(self.n_train_eval, self.n_train)
        return TaskInstance(cross_entropy, epoch_batches(x_train, y_train, batch_size, generator, cross_entropy),
                            (x_test, y_test), (x_train[:k], y_train[:k]), self.n_train, classification=True)
