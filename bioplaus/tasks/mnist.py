"""MNIST from the four IDX files in a folder the user gives (``--data-dir``); nothing is downloaded.

The folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (``.gz`` or not; the
``train-images.idx3-ubyte`` spelling works too). Pixels are scaled to [0, 1];
images are flattened to 784-vectors unless ``image=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bioplaus.errors import BioplausError
from bioplaus.tasks.base import Task, TaskInstance, classification_instance
from bioplaus.tasks.idx import read_idx

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def find_file(folder: Path, stem: str) -> Path:
    alt = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some mirrors name them
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise BioplausError(f"{folder}: MNIST file {stem} (or {stem}.gz) not found; the folder must hold {', '.join(FILES.values())}.")


def load_mnist(data_dir: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: float32 images in [0, 1] ``(n, 28, 28)``, int64 labels."""
    folder = Path(data_dir)
    if not folder.is_dir():
        raise BioplausError(f"{folder}: MNIST data folder does not exist (give the folder holding the four IDX files with --data-dir).")
    paths = {key: find_file(folder, stem) for key, stem in FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        files = f"{paths[f'{split}_images'].name} and {paths[f'{split}_labels'].name}"
        if images.ndim != 3 or labels.ndim != 1:
            raise BioplausError(f"{folder}: {split} images must be a 3-d IDX array and labels 1-d ({files}); "
                                f"got shapes {images.shape} and {labels.shape}.")
        if images.shape[0] != labels.shape[0]:
            raise BioplausError(f"{folder}: {split} set has {images.shape[0]} images but {labels.shape[0]} labels ({files}).")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise BioplausError(f"{folder}: {split} labels must be digits 0-9; found values from {labels.min()} to {labels.max()}.")
    return (
        (arrays["train_images"] / 255.0).astype(np.float32),
        arrays["train_labels"].astype(np.int64),
        (arrays["test_images"] / 255.0).astype(np.float32),
        arrays["test_labels"].astype(np.int64),
    )


@dataclass
class MNIST(Task):
    """MNIST digits read from IDX files. ``train_eval_size`` training images (a fixed
    prefix) are used for ``train_accuracy`` to keep recording cheap."""

    image: bool = False
    train_eval_size: int = 10000

    name = "mnist"
    kind = "classification"
    n_in = 784
    n_out = 10

    def config(self) -> dict:
        return {"task": self.name, "image": self.image, "train_eval_size": self.train_eval_size}

    def check(self, data_dir: str | None) -> None:
        if data_dir is None:
            raise BioplausError("task 'mnist' needs the folder holding the MNIST IDX files: pass --data-dir DIR.")
        load_mnist(data_dir)

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        if data_dir is None:
            self.check(data_dir)
        x_tr, y_tr, x_te, y_te = (torch.from_numpy(a).to(device) for a in load_mnist(data_dir))
        if self.image:
            x_tr, x_te = x_tr.unsqueeze(1), x_te.unsqueeze(1)
        else:
            x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
        m = min(self.train_eval_size, len(x_tr))
        return classification_instance(x_tr, y_tr, x_te, y_te, generator, batch_size, train_eval=(x_tr[:m], y_tr[:m]))
