"""The Yin-Yang dataset (Kriener, Göltz & Petrovici 2022), generated here from its published definition.

Source: L. Kriener, J. Göltz & M. A. Petrovici, "The Yin-Yang dataset", NICE 2022, arXiv:2102.08211, and the
dataset's README (github.com/lkriener/yin_yang_data_set). A point ``(x, y)`` is drawn uniformly in the disk of
radius ``R`` centred on ``(R, R)`` (``R = r_big = 0.5``, so the square is [0, 1]²) and presented as the four inputs
``(x, y, 1 - x, 1 - y)`` (the mirrored pair lets neurons without bias learn it). With the two dots' centres
``c_left = (R/2, R)`` and ``c_right = (3R/2, R)``, ``d_left``/``d_right`` the distances to them and
``r = r_small = 0.1``, a point's class is

* 2 ("dot") when ``d_left < r`` or ``d_right < r``;
* else 1 when ``d_right <= r`` or ``r < d_left <= R/2`` or (``y > R`` and ``d_right > R/2``);
* else 0.

Each sample first draws its class uniformly from {0, 1, 2} and then rejection-samples a point of that class, so
the classes are balanced in expectation. Published splits: 5,000 / 1,000 / 1,000 training / validation / test
samples drawn with seeds 42 / 41 / 40; here each split is drawn from ``numpy.random.default_rng(seed)`` with the
same seeds, so the data follow the definition and the sizes but are not the published files point for point.
Published accuracy (README, 20 runs, Adam lr 1e-3, batch 20, 300 epochs): 4-120-3 ANN 98.7 ± 0.3 % test, shallow
(linear) network 64.3 ± 0.2 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from bioplaus.errors import BioplausError, allowed
from bioplaus.tasks.base import Task, TaskInstance, classification_instance

R_BIG = 0.5
R_SMALL = 0.1
#: published split sizes and seeds (dataset README)
SPLIT_SIZES = {"train": 5000, "validation": 1000, "test": 1000}
SPLIT_SEEDS = {"train": 42, "validation": 41, "test": 40}
SPLITS = ("test", "validation")


def yin_yang_class(x: np.ndarray, y: np.ndarray, r_small: float = R_SMALL, r_big: float = R_BIG) -> np.ndarray:
    """Class (0, 1 or 2, int64) of points ``(x, y)`` of any common shape inside the big disk (module docstring)."""
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    one = (d_right <= r_small) | ((d_left > r_small) & (d_left <= 0.5 * r_big)) | ((y > r_big) & (d_right > 0.5 * r_big))
    dot = (d_right < r_small) | (d_left < r_small)
    return np.where(dot, 2, one.astype(np.int64)).astype(np.int64)


def draw_yin_yang(n: int, seed: int, r_small: float = R_SMALL, r_big: float = R_BIG) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples: inputs float64 ``(n, 4)`` = ``(x, y, 1 - x, 1 - y)`` and classes int64 ``(n,)``.

    Sample ``i`` draws its class ``g_i`` uniformly, then points uniform in the ``2R``-square until one lies in the
    big disk and has class ``g_i`` (rejection sampling, batched over samples)."""
    rng = np.random.default_rng(seed)
    goal = rng.integers(0, 3, size=n)
    xy = np.full((n, 2), np.nan)
    missing = np.arange(n)
    while missing.size:
        p = rng.random((missing.size, 2)) * 2.0 * r_big
        inside = np.hypot(p[:, 0] - r_big, p[:, 1] - r_big) <= r_big
        ok = inside & (yin_yang_class(p[:, 0], p[:, 1], r_small, r_big) == goal[missing])
        xy[missing[ok]] = p[ok]
        missing = missing[~ok]
    labels = yin_yang_class(xy[:, 0], xy[:, 1], r_small, r_big)
    return np.concatenate([xy, 1.0 - xy], axis=1), labels


@lru_cache(maxsize=4)
def yin_yang_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    """One published split (``train``, ``validation`` or ``test``) as float32 inputs and int64 classes."""
    x, y = draw_yin_yang(SPLIT_SIZES[split], SPLIT_SEEDS[split])
    return x.astype(np.float32), y


@dataclass
class YinYang(Task):
    """Yin-Yang as 4 inputs in [0, 1] and 3 classes, softmax cross-entropy.

    ``split="test"`` (default) reports the 1,000 test samples as ``test_*``; ``split="validation"`` reports the
    1,000 validation samples instead (for step-size searches). Training always uses the 5,000 training samples.
    The data are the same in every run; the seed changes only the batch order.
    """

    split: str = "test"

    name = "yin_yang"
    kind = "classification"
    n_in = 4
    n_out = 3

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise BioplausError(f"task 'yin_yang': field 'split' must be one of {allowed(SPLITS)}, got {self.split!r}.")

    def config(self) -> dict:
        return {"task": self.name, "split": self.split}

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        x_tr, y_tr = (torch.tensor(a, device=device) for a in yin_yang_split("train"))
        x_te, y_te = (torch.tensor(a, device=device) for a in yin_yang_split(self.split))
        return classification_instance(x_tr, y_tr, x_te, y_te, generator, batch_size)
