"""MNIST-1D (Greydanus 2020): ten 1-D "digit" templates, padded, scaled, translated, sheared and noised into
40-sample signals; 4,000 training and 1,000 test examples. Built offline, nothing is downloaded.

Source: S. Greydanus, "Scaling down deep learning", arXiv:2011.14439 (2020), and the ``mnist1d`` package
(PyPI), whose ``make_dataset`` generates the data procedurally from its default arguments (5,000 signals,
80/20 split, final length 40, data seed 42). Published test accuracy on this default dataset (the package's
README): logistic regression 32 %, MLP 68 %, CNN 94 %, GRU 91 %, human expert 96 %. Unlike the 8x8 digits,
where a read-out-only network matches backprop, it separates linear read-outs from learned hidden features.

``make_dataset`` reseeds the global ``numpy.random`` and ``random`` states; both are saved and restored around
it, so that building the data never changes any other random stream. The arrays are cached as
``$BIOPLAUS_CACHE/data/mnist1d-<hash>.npz`` (default ``~/.cache/bioplaus``), read back with
``allow_pickle=False``; the package's ``get_dataset`` (which downloads and unpickles) is never called.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from bioplaus.errors import BioplausError, allowed
from bioplaus.tasks.base import Task, TaskInstance, classification_instance

SPLITS = ("test", "validation")
#: training examples held out as the validation split (the last ones of the 4,000), for step-size searches
N_VALIDATION = 1000
#: the data seed of the published dataset (``mnist1d``'s default arguments)
DATA_SEED = 42


def cache_path() -> Path:
    """The cache file, named by the ``mnist1d`` version and the data seed (read without importing the package)."""
    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        version = "not installed"
    root = os.environ.get("BIOPLAUS_CACHE")
    key = hashlib.sha256(json.dumps({"mnist1d": version, "seed": DATA_SEED}).encode()).hexdigest()[:16]
    return (Path(root) if root else Path.home() / ".cache" / "bioplaus") / "data" / f"mnist1d-{key}.npz"


def build_mnist1d() -> dict[str, np.ndarray]:
    """``{"x", "y", "x_test", "y_test"}`` from ``mnist1d.data.make_dataset`` with its default arguments
    (``x``: float64 ``(4000, 40)``, standardised over the whole set by the package; ``y``: int64 ``(4000,)``).
    The global ``numpy.random`` and ``random`` states are the same after the call as before."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise BioplausError("task 'mnist1d' needs the 'mnist1d' package (pip install mnist1d); it generates the data "
                            f"offline ({e}).") from e
    args = get_dataset_args()
    args.seed = DATA_SEED
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return {k: np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test")}


@lru_cache(maxsize=1)
def mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)``: float32 ``(4000, 40)`` / ``(1000, 40)`` signals, int64 labels.

    Read from the ``.npz`` cache when present, else built and (where the cache folder is writable) saved."""
    path = cache_path()
    data = None
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in ("x", "y", "x_test", "y_test")}
        except (OSError, ValueError, KeyError):
            data = None  # a truncated or foreign file: rebuild it
    if data is None:
        data = build_mnist1d()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
            np.savez(tmp, **data)
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable cache only costs the two seconds of building it again
    return (data["x"].astype(np.float32), data["y"].astype(np.int64),
            data["x_test"].astype(np.float32), data["y_test"].astype(np.int64))


@dataclass
class MNIST1D(Task):
    """MNIST-1D as 40-dimensional vectors, 10 classes, softmax cross-entropy.

    ``split="test"`` (default): train on the 4,000 training signals, evaluate on the 1,000 test signals.
    ``split="validation"``: train on the first 3,000 training signals and report the last 1,000 (held out
    from training, ``N_VALIDATION``) as ``test_*``: the split a step-size search reads, never the test set.
    The data are the same in every run; the seed changes only the batch order.
    """

    split: str = "test"

    name = "mnist1d"
    kind = "classification"
    n_in = 40
    n_out = 10

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise BioplausError(f"task 'mnist1d': field 'split' must be one of {allowed(SPLITS)}, got {self.split!r}.")

    def config(self) -> dict:
        return {"task": self.name, "split": self.split}

    def check(self, data_dir: str | None) -> None:
        if not cache_path().is_file() and importlib.util.find_spec("mnist1d") is None:
            raise BioplausError("task 'mnist1d' needs the 'mnist1d' package (pip install mnist1d); it generates the "
                                "data offline.")

    def instantiate(self, generator: torch.Generator, data_dir: str | None, device: str, batch_size: int) -> TaskInstance:
        x_tr, y_tr, x_te, y_te = (torch.tensor(a, device=device) for a in mnist1d_arrays())
        if self.split == "validation":
            x_tr, y_tr, x_te, y_te = x_tr[:-N_VALIDATION], y_tr[:-N_VALIDATION], x_tr[-N_VALIDATION:], y_tr[-N_VALIDATION:]
        return classification_instance(x_tr, y_tr, x_te, y_te, generator, batch_size)
