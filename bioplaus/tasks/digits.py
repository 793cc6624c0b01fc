"""scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), embedded: no download.

Fixed split: 360 test images (20 %, stratified by class, ``random_state=0``), the rest
for training; ``split="validation"`` holds the last 360 of the (shuffled) training images out
as the validation set for step-size searches (:mod:`bioplaus.tuning`). Pixels are standardised with the training set's mean and standard
deviation; pixels constant over the training set are 0 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bioplaus.errors import BioplausError

from bioplaus.tasks.base import Task, TaskInstance, classification_instance


#: training images held out as the validation split (the last ones of the 1,437)
N_VALIDATION = 360
SPLITS = ("test", "validation")


@lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``, standardised float32 ``(n, 64)`` and int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    x, y = data.data.astype(np.float64), data.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=360, stratify=y, random_state=0)
    mean, std = x_tr.mean(0), x_tr.std(0)
    constant = std == 0
    std[constant] = 1.0
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    x_tr[:, constant] = 0.0
    x_te[:, constant] = 0.0
    return x_tr.astype(np.float32), y_tr, x_te.astype(np.float32), y_te


def resize(x: Tensor, side: int) -> Tensor:
    """``(n, 64)`` 8x8 images to ``(n, side*side)``, bilinear interpolation."""
    images = F.interpolate(x.reshape(-1, 1, 8, 8), size=(side, side), mode="bilinear", align_corners=False)
    return images.reshape(len(x), side * side).contiguous()


@dataclass
class Digits(Task):
    """The 8x8 digits as 64-dimensional vectors (``image=False``) or ``(1, 8, 8)`` images.

    ``side``: the images' side in pixels. At 8 (the default) they are the bundled images;
    at another side (e.g. 28, MNIST's) the standardised images are resized bilinearly
    (``torch.nn.functional.interpolate``, ``align_corners=False``), so that a network
    built for MNIST's 784 inputs runs on them unchanged. No information is added.

    ``split="test"`` (default): train on the 1,437 training images, report the 360 test images as ``test_*``.
    ``split="validation"``: train on the first 1,077 training images and report the last 360 (held out from
    training; the standardisation's mean and s.d. stay those of all 1,437, which carry no labels) as ``test_*``.
    """

    image: bool = False
    side: int = 8
    split: str = "test"

    name = "digits"
    kind = "classification"
    n_out = 10

    def __post_init__(self) -> None:
        if not isinstance(self.side, int) or isinstance(self.side, bool) or self.side < 1:
            raise BioplausError(f"task 'digits': field 'side' must be a positive integer (8 for the bundled images, 28 for MNIST's size), "
                                f"got {self.side!r}.")
        if self.split not in SPLITS:
            raise BioplausError(f"task 'digits': field 'split' must be one of {', '.join(SPLITS)}, got {self.split!r}.")
        self.n_in = self.side * self.side

    def config(self) -> dict:
        # side is written only when it differs from 8, so that runs stored before it existed keep their config hash
        # side and split are written only when not their defaults, so that runs stored before they existed keep their hash
        return {"task": self.name, "image": self.image, **({"side": self.side} if self.side != 8 else {}),
                **({"split": self.split} if self.split != "test" else {})}

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        # a copy per run: the cached arrays must never be shared with (and changed by) a run
        x_tr, y_tr, x_te, y_te = (torch.tensor(a, device=device) for a in digits_arrays())
        if self.split == "validation":
            x_tr, y_tr, x_te, y_te = x_tr[:-N_VALIDATION], y_tr[:-N_VALIDATION], x_tr[-N_VALIDATION:], y_tr[-N_VALIDATION:]
        if self.side != 8:
            x_tr, x_te = (resize(x, self.side) for x in (x_tr, x_te))
        if self.image:
            x_tr, x_te = x_tr.reshape(-1, 1, self.side, self.side), x_te.reshape(-1, 1, self.side, self.side)
        return classification_instance(x_tr, y_tr, x_te, y_te, generator, batch_size)
