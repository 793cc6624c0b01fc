"""MNIST-1D and Yin-Yang: shapes, class balance, determinism, the RNG contract and Yin-Yang's region rule."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest
import torch

from bioplaus.errors import BioplausError
from bioplaus.tasks import MNIST1D, YinYang
from bioplaus.tasks import mnist1d as mnist1d_module
from bioplaus.tasks.yin_yang import R_BIG, R_SMALL, draw_yin_yang, yin_yang_class


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- MNIST-1D ------------------------------------------------------------------------------------

needs_mnist1d = pytest.mark.skipif(importlib.util.find_spec("mnist1d") is None, reason="the mnist1d package is not installed")


@needs_mnist1d
def test_mnist1d_building_leaves_the_global_random_states_as_they_were():
    np.random.seed(123)
    random.seed(456)
    expect_np, expect_py = np.random.rand(3), random.random()
    np.random.seed(123)
    random.seed(456)
    data = mnist1d_module.build_mnist1d()
    assert np.array_equal(np.random.rand(3), expect_np) and random.random() == expect_py
    assert data["x"].shape == (4000, 40) and data["x_test"].shape == (1000, 40)
    # built twice, the data are the same: they depend on the fixed data seed only
    again = mnist1d_module.build_mnist1d()
    assert all(np.array_equal(data[k], again[k]) for k in data)


@needs_mnist1d
def test_mnist1d_cache_round_trip_without_pickle(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOPLAUS_CACHE", str(tmp_path))
    mnist1d_module.mnist1d_arrays.cache_clear()
    try:
        first = mnist1d_module.mnist1d_arrays()
        path = mnist1d_module.cache_path()
        assert path.is_file() and path.is_relative_to(tmp_path)
        with np.load(path, allow_pickle=False) as f:
            assert sorted(f.files) == ["x", "x_test", "y", "y_test"]
        mnist1d_module.mnist1d_arrays.cache_clear()
        second = mnist1d_module.mnist1d_arrays()  # read from the file this time
        assert all(np.array_equal(a, b) for a, b in zip(first, second))
        path.write_bytes(b"not an npz")  # a damaged cache is rebuilt, not trusted
        mnist1d_module.mnist1d_arrays.cache_clear()
        third = mnist1d_module.mnist1d_arrays()
        assert all(np.array_equal(a, b) for a, b in zip(first, third))
    finally:
        mnist1d_module.mnist1d_arrays.cache_clear()


@needs_mnist1d
def test_mnist1d_shapes_balance_and_splits():
    x_tr, y_tr, x_te, y_te = mnist1d_module.mnist1d_arrays()
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert x_tr.shape == (4000, 40) and x_te.shape == (1000, 40)
    # 500 signals per class before the shuffled 80/20 split
    assert np.array_equal(np.bincount(y_tr, minlength=10) + np.bincount(y_te, minlength=10), np.full(10, 500))
    assert np.bincount(y_te, minlength=10).min() >= 70
    test = MNIST1D().instantiate(gen(0), None, "cpu", batch_size=16)
    val = MNIST1D(split="validation").instantiate(gen(0), None, "cpu", batch_size=16)
    assert test.n_train == 4000 and test.test[0].shape == (1000, 40)
    assert val.n_train == 3000 and val.test[0].shape == (1000, 40)
    # the validation split is the held-out tail of the training set, never the test set
    assert torch.equal(val.test[0], torch.tensor(x_tr[-1000:]))
    train_rows = {r.tobytes() for r in val.train_eval[0].numpy()}
    assert not any(r.tobytes() in train_rows for r in val.test[0].numpy())


@needs_mnist1d
def test_mnist1d_batches_depend_on_the_seed_only():
    a = MNIST1D().instantiate(gen(1), None, "cpu", batch_size=8)
    b = MNIST1D().instantiate(gen(1), None, "cpu", batch_size=8)
    c = MNIST1D().instantiate(gen(2), None, "cpu", batch_size=8)
    ba, bb, bc = a.next_batch(), b.next_batch(), c.next_batch()
    assert torch.equal(ba.x, bb.x) and torch.equal(ba.y, bb.y) and not torch.equal(ba.x, bc.x)
    assert torch.equal(a.test[0], c.test[0])


def test_mnist1d_bad_split_is_a_clear_error():
    with pytest.raises(BioplausError, match="split"):
        MNIST1D(split="train")


# -- Yin-Yang --------------------------------------------------------------------------------------


def test_yin_yang_region_rule_on_hand_placed_points():
    # (x, y) -> class, worked out from the definition in the module docstring
    cases = {
        (0.25, 0.5): 2,   # left dot's centre
        (0.75, 0.5): 2,   # right dot's centre
        (0.5, 0.9): 1,    # upper half, far from the right dot
        (0.5, 0.1): 0,    # lower half, far from the left dot
        (0.45, 0.5): 1,   # ring around the left dot (0.1 < d_left = 0.2 <= 0.25)
        (0.95, 0.5): 0,   # ring around the right dot (d_right = 0.2 <= 0.25, so not criterion 3)
        (0.75, 0.68): 0,  # above the right dot but within R/2 of it (d_right = 0.18)
        (0.25, 0.32): 1,  # below the left dot, within R/2 of it
    }
    pts = np.array(list(cases))
    assert yin_yang_class(pts[:, 0], pts[:, 1]).tolist() == list(cases.values())


def test_yin_yang_is_symmetric_and_has_the_published_areas():
    rng = np.random.default_rng(0)
    p = rng.random((200_000, 2))
    p = p[np.hypot(p[:, 0] - R_BIG, p[:, 1] - R_BIG) <= R_BIG]
    c = yin_yang_class(p[:, 0], p[:, 1])
    # point reflection through the centre swaps yin and yang and keeps the dots
    mirrored = yin_yang_class(1 - p[:, 0], 1 - p[:, 1])
    assert np.array_equal(mirrored, np.choose(c, [1, 0, 2]))
    # areas: each dot r^2 / R^2 = 4 % of the disk; yin and yang the rest, in halves
    frac = np.bincount(c, minlength=3) / len(c)
    assert frac[2] == pytest.approx(2 * (R_SMALL / R_BIG) ** 2, abs=0.004)
    assert frac[0] == pytest.approx(frac[1], abs=0.01)


def test_yin_yang_draws_balanced_labelled_mirrored_points():
    x, y = draw_yin_yang(6000, seed=42)
    assert x.shape == (6000, 4) and y.shape == (6000,)
    assert np.allclose(x[:, 2:], 1 - x[:, :2])
    assert (np.hypot(x[:, 0] - R_BIG, x[:, 1] - R_BIG) <= R_BIG).all()
    assert np.array_equal(y, yin_yang_class(x[:, 0], x[:, 1]))
    counts = np.bincount(y, minlength=3)
    # classes drawn uniformly: each count within ~4 binomial s.d. (36.5) of 2000
    assert np.abs(counts - 2000).max() < 150
    again, _ = draw_yin_yang(6000, seed=42)
    other, _ = draw_yin_yang(6000, seed=41)
    assert np.array_equal(x, again) and not np.array_equal(x, other)


def test_yin_yang_task_splits():
    test = YinYang().instantiate(gen(0), None, "cpu", batch_size=20)
    val = YinYang(split="validation").instantiate(gen(0), None, "cpu", batch_size=20)
    assert test.n_train == 5000 and test.test[0].shape == (1000, 4) and val.test[0].shape == (1000, 4)
    assert torch.equal(test.train_eval[0], val.train_eval[0])
    assert not torch.equal(test.test[0], val.test[0])
    batch = test.next_batch()
    assert batch.x.shape == (20, 4) and batch.y.dtype == torch.int64 and int(batch.y.max()) <= 2
    with pytest.raises(BioplausError, match="split"):
        YinYang(split="train")
