"""Tasks: the linear teacher, the 8x8 digits, and MNIST read from IDX files."""

from __future__ import annotations

import gzip
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from bioplaus.errors import BioplausError
from bioplaus.tasks import MNIST, Digits, LinearTeacher, cross_entropy, load_mnist, read_idx, squared_error, write_idx
from bioplaus.tasks.base import epoch_batches
from bioplaus.tasks.mnist import FILES


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- LinearTeacher ------------------------------------------------------------------------------


def test_linear_teacher_targets_are_one_linear_map():
    task = LinearTeacher(n_in=6, n_out=3, teacher_scale=0.5, n_test=50)
    inst = task.instantiate(gen(0), None, "cpu", batch_size=8)
    x_test, y_test = inst.test
    assert x_test.shape == (50, 6) and y_test.shape == (50, 3)
    # Recover T from the test set by least squares; it must fit exactly and bound |T| by teacher_scale.
    sol = np.linalg.lstsq(x_test.numpy().astype(np.float64), y_test.numpy().astype(np.float64), rcond=None)
    t_hat = sol[0].T
    np.testing.assert_allclose(x_test.numpy() @ t_hat.T, y_test.numpy(), atol=1e-5)
    assert t_hat.shape == (3, 6)
    assert np.abs(t_hat).max() <= 0.5 + 1e-5
    for _ in range(3):
        batch = inst.next_batch()
        assert batch.x.shape == (8, 6) and batch.y.shape == (8, 3)
        np.testing.assert_allclose(batch.y.numpy(), batch.x.numpy() @ t_hat.T, atol=1e-5)
        assert batch.loss_fn is squared_error
    # Linearity on test rows: y(a x1 + b x2) = a y(x1) + b y(x2).
    a, b = 2.0, -0.75
    x_mix = a * x_test[0] + b * x_test[1]
    np.testing.assert_allclose(x_mix.numpy() @ t_hat.T, (a * y_test[0] + b * y_test[1]).numpy(), atol=1e-5)
    assert inst.n_train is None and not inst.classification


def test_linear_teacher_depends_on_the_generator_seed():
    task = LinearTeacher(n_in=5, n_out=2, n_test=20)
    a = task.instantiate(gen(1), None, "cpu", batch_size=4)
    b = task.instantiate(gen(1), None, "cpu", batch_size=4)
    c = task.instantiate(gen(2), None, "cpu", batch_size=4)
    assert torch.equal(a.test[0], b.test[0]) and torch.equal(a.test[1], b.test[1])
    for _ in range(3):
        ba, bb, bc = a.next_batch(), b.next_batch(), c.next_batch()
        assert torch.equal(ba.x, bb.x) and torch.equal(ba.y, bb.y)
        assert not torch.equal(ba.x, bc.x)
    assert not torch.equal(a.test[0], c.test[0])
    first, second = a.next_batch(), a.next_batch()
    assert not torch.equal(first.x, second.x)  # fresh samples every step


def test_squared_error_is_half_sum_over_outputs_mean_over_batch():
    out = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    target = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    assert float(squared_error(out, target)) == pytest.approx(0.5 * ((1 + 4) + 1) / 2)
    rng = np.random.default_rng(0)
    o, y = rng.normal(size=(9, 4)), rng.normal(size=(9, 4))
    expected = np.mean(0.5 * np.sum((o - y) ** 2, axis=1))
    assert float(squared_error(torch.from_numpy(o), torch.from_numpy(y))) == pytest.approx(expected, rel=1e-12)


def test_linear_teacher_evaluate_reports_the_loss_of_the_test_set():
    task = LinearTeacher(n_in=4, n_out=2, n_test=30)
    inst = task.instantiate(gen(3), None, "cpu", batch_size=4)
    zero = torch.nn.Linear(4, 2, bias=False)
    torch.nn.init.zeros_(zero.weight)
    expected = 0.5 * float((inst.test[1].double() ** 2).sum(1).mean())
    assert inst.evaluate(zero) == {"test_loss": pytest.approx(expected, rel=1e-6)}


# -- Digits ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return Digits().instantiate(gen(0), None, "cpu", batch_size=32)


def test_digits_sizes_and_fixed_test_split(digits):
    x_tr, y_tr = digits.train_eval
    x_te, y_te = digits.test
    assert x_tr.shape == (1437, 64) and y_tr.shape == (1437,)
    assert x_te.shape == (360, 64) and y_te.shape == (360,)
    assert digits.n_train == 1437 and digits.classification and digits.loss_fn is cross_entropy
    assert set(y_tr.tolist()) == set(y_te.tolist()) == set(range(10))
    # Stratified: every class has 36 +- 1 of the 360 test images.
    counts = Counter(y_te.tolist())
    assert all(35 <= counts[c] <= 37 for c in range(10))
    other = Digits().instantiate(gen(99), None, "cpu", batch_size=7)
    assert torch.equal(other.test[0], x_te) and torch.equal(other.test[1], y_te)
    assert torch.equal(other.train_eval[0], x_tr)


def test_digits_images_are_reshaped_vectors(digits):
    images = Digits(image=True).instantiate(gen(0), None, "cpu", batch_size=32)
    assert images.test[0].shape == (360, 1, 8, 8)
    assert torch.equal(images.test[0].reshape(360, 64), digits.test[0])


def test_digits_training_features_are_standardised(digits):
    x = digits.train_eval[0].numpy().astype(np.float64)
    std = x.std(0)
    constant = std < 1e-6
    # Pixel 0 (top-left corner) is blank in every 8x8 digit: at least it is constant.
    assert constant[0] and constant.sum() < 10
    np.testing.assert_array_equal(x[:, constant], 0.0)
    np.testing.assert_array_equal(digits.test[0].numpy()[:, constant], 0.0)
    np.testing.assert_allclose(x[:, ~constant].mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(std[~constant], 1.0, rtol=1e-5)


def test_digits_standardisation_is_an_affine_map_of_the_raw_pixels(digits):
    # Every pixel of train and test is (raw - m) / s with one (m, s) per pixel: undoing the map
    # fitted on all 1797 images must give back the raw 0..16 grey levels, with their counts.
    from sklearn.datasets import load_digits

    raw = load_digits().data
    x_tr, x_te = digits.train_eval[0].numpy().astype(np.float64), digits.test[0].numpy().astype(np.float64)
    assert x_tr.shape[0] + x_te.shape[0] == raw.shape[0]
    for j in (10, 20, 27, 36, 50):
        both = np.concatenate([x_tr[:, j], x_te[:, j]])
        s = raw[:, j].std() / both.std()
        m = raw[:, j].mean() - s * both.mean()
        grey = both * s + m
        np.testing.assert_allclose(grey, np.round(grey), atol=1e-4)
        assert sorted(Counter(np.round(grey).astype(int)).items()) == sorted(Counter(raw[:, j].astype(int)).items())


def test_digits_batch_order_depends_on_the_seed():
    a = Digits().instantiate(gen(1), None, "cpu", batch_size=16)
    b = Digits().instantiate(gen(1), None, "cpu", batch_size=16)
    c = Digits().instantiate(gen(2), None, "cpu", batch_size=16)
    for _ in range(3):
        ba, bb, bc = a.next_batch(), b.next_batch(), c.next_batch()
        assert ba.x.shape == (16, 64) and ba.y.shape == (16,)
        assert torch.equal(ba.x, bb.x) and torch.equal(ba.y, bb.y)
        assert not torch.equal(ba.x, bc.x)


def test_digits_epoch_visits_each_example_at_most_once():
    batch_size = 50
    inst = Digits().instantiate(gen(4), None, "cpu", batch_size=batch_size)
    x_tr, y_tr = inst.train_eval
    rows = lambda x, y: Counter(  # noqa: E731
        (tuple(r), int(c)) for r, c in zip(np.round(x.numpy(), 4).tolist(), y.tolist())
    )
    available = rows(x_tr, y_tr)
    per_epoch = 1437 // batch_size
    for _ in range(2):
        seen = Counter()
        for _ in range(per_epoch):
            batch = inst.next_batch()
            assert batch.x.shape[0] == batch_size
            seen += rows(batch.x, batch.y)
        # Duplicated images can occur in the data, so compare multisets.
        assert sum(seen.values()) == per_epoch * batch_size
        assert all(seen[k] <= available[k] for k in seen)


def test_epoch_batches_partition_each_epoch():
    n, batch_size = 23, 5
    x = torch.arange(n, dtype=torch.float64).reshape(n, 1)
    next_batch = epoch_batches(x, torch.arange(n), batch_size, gen(0), cross_entropy)
    epochs = []
    for _ in range(3):
        idx = torch.cat([next_batch().y for _ in range(n // batch_size)])
        assert idx.numel() == len(set(idx.tolist())) == (n // batch_size) * batch_size
        epochs.append(idx)
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled every epoch


# -- IDX files ------------------------------------------------------------------------------------


def test_idx_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    cases = {
        "images": rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8),
        "labels": rng.integers(0, 10, size=7, dtype=np.uint8),
        "int16": rng.integers(-3000, 3000, size=(2, 3), dtype=np.int16),
        "float32": rng.normal(size=(4,)).astype(np.float32),
        "float64": rng.normal(size=(2, 2, 2)).astype(np.float64),
    }
    for name, array in cases.items():
        path = tmp_path / name
        write_idx(path, array)
        back = read_idx(path)
        assert back.dtype == array.dtype and back.shape == array.shape, name
        np.testing.assert_array_equal(back, array)


def test_idx_layout_follows_the_format(tmp_path):
    # Written by hand from the format: 00 00 08 02, dims 2 and 3 as big-endian uint32, then the data.
    raw = bytes([0, 0, 8, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([1, 2, 3, 4, 5, 255])
    path = tmp_path / "hand-idx2-ubyte"
    path.write_bytes(raw)
    np.testing.assert_array_equal(read_idx(path), np.array([[1, 2, 3], [4, 5, 255]], dtype=np.uint8))
    write_idx(tmp_path / "again", np.array([[1, 2, 3], [4, 5, 255]], dtype=np.uint8))
    assert (tmp_path / "again").read_bytes() == raw
    # int16 is stored big-endian with type code 0x0B.
    write_idx(tmp_path / "i16", np.array([258, -2], dtype=np.int16))
    assert (tmp_path / "i16").read_bytes() == bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x02, 0xFF, 0xFE])
    gz = tmp_path / "hand-idx2-ubyte.gz"
    gz.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(gz), read_idx(path))


def corrupt_variants(tmp_path: Path) -> dict[str, Path]:
    good = tmp_path / "good"
    write_idx(good, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    raw = good.read_bytes()
    out = {}
    for name, data in {
        "bad_magic": bytes([0, 1]) + raw[2:],
        "bad_type": bytes([0, 0, 0x07]) + raw[3:],
        "zero_dims": bytes([0, 0, 8, 0]) + raw[4:],
        "truncated_data": raw[:-1],
        "truncated_header": raw[:9],
        "tiny": raw[:2],
        "empty": b"",
        "trailing": raw + b"\x00",
    }.items():
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    return out


@pytest.mark.parametrize(
    "variant, words",
    [
        ("bad_magic", "magic number"),
        ("bad_type", "magic number"),
        ("zero_dims", "magic number"),
        ("truncated_data", "truncated"),
        ("truncated_header", "truncated"),
        ("tiny", "truncated"),
        ("empty", "truncated"),
        ("trailing", "trailing bytes"),
    ],
)
def test_idx_errors_name_the_file(tmp_path, variant, words):
    path = corrupt_variants(tmp_path)[variant]
    with pytest.raises(BioplausError, match=re.escape(str(path))) as info:
        read_idx(path)
    assert words in str(info.value)


def test_idx_unreadable_files_raise(tmp_path):
    for path in (tmp_path / "missing", tmp_path / "not-gzip.gz"):
        if path.suffix == ".gz":
            path.write_bytes(b"plain bytes, not gzip")
        with pytest.raises(BioplausError, match=re.escape(str(path))):
            read_idx(path)


# -- MNIST from a folder of IDX files ------------------------------------------------------------


def write_mnist(folder: Path, n_train: int = 20, n_test: int = 10, seed: int = 0, gz: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    arrays["train_images"][0, 0, 0], arrays["train_images"][0, 0, 1] = 0, 255
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        write_idx(folder / FILES[key], array)
        if gz:
            path = folder / FILES[key]
            (folder / (FILES[key] + ".gz")).write_bytes(gzip.compress(path.read_bytes()))
            path.unlink()
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_scales_pixels(tmp_path, gz):
    arrays = write_mnist(tmp_path / "mnist", gz=gz)
    x_tr, y_tr, x_te, y_te = load_mnist(tmp_path / "mnist")
    assert x_tr.shape == (20, 28, 28) and x_te.shape == (10, 28, 28)
    assert y_tr.shape == (20,) and y_te.shape == (10,)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert x_tr.min() == 0.0 and x_tr.max() == 1.0 and 0.0 <= x_te.min() and x_te.max() <= 1.0
    np.testing.assert_allclose(x_tr, arrays["train_images"] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_te, arrays["test_images"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y_tr, arrays["train_labels"])
    np.testing.assert_array_equal(y_te, arrays["test_labels"])


def test_mnist_task_flattens_images(tmp_path):
    arrays = write_mnist(tmp_path)
    inst = MNIST(train_eval_size=5).instantiate(gen(0), str(tmp_path), "cpu", batch_size=4)
    assert inst.test[0].shape == (10, 784) and inst.train_eval[0].shape == (5, 784)
    np.testing.assert_allclose(inst.train_eval[0].numpy(), arrays["train_images"][:5].reshape(5, 784) / 255.0, rtol=1e-6)
    batch = inst.next_batch()
    assert batch.x.shape == (4, 784) and batch.y.dtype == torch.int64
    assert inst.n_train == 20
    with pytest.raises(BioplausError, match="--data-dir"):
        MNIST().check(None)


def test_load_mnist_missing_folder_and_file(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(BioplausError, match=re.escape(str(missing))):
        load_mnist(missing)
    write_mnist(tmp_path / "partial")
    (tmp_path / "partial" / FILES["test_labels"]).unlink()
    with pytest.raises(BioplausError) as info:
        load_mnist(tmp_path / "partial")
    assert str(tmp_path / "partial") in str(info.value)
    assert FILES["test_labels"] in str(info.value)


def test_load_mnist_rejects_bad_labels_and_shapes(tmp_path):
    write_mnist(tmp_path / "bad_label")
    labels = np.zeros(10, dtype=np.uint8)
    labels[3] = 10
    write_idx(tmp_path / "bad_label" / FILES["test_labels"], labels)
    with pytest.raises(BioplausError, match="0-9"):
        load_mnist(tmp_path / "bad_label")

    write_mnist(tmp_path / "count")
    write_idx(tmp_path / "count" / FILES["train_labels"], np.zeros(19, dtype=np.uint8))
    with pytest.raises(BioplausError, match="20 images but 19 labels"):
        load_mnist(tmp_path / "count")

    write_mnist(tmp_path / "flat")
    write_idx(tmp_path / "flat" / FILES["train_images"], np.zeros((20, 784), dtype=np.uint8))
    with pytest.raises(BioplausError, match="3-d"):
        load_mnist(tmp_path / "flat")
