"""The MNIST-or-digits switch (tasks.mnist_or_digits) and the Nøkland 2016 protocol that uses it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from bioplaus.errors import BioplausError
from bioplaus.execute import run_protocol
from bioplaus.protocol import load_protocol
from bioplaus.store import Store
from bioplaus.tasks import MNIST, ByDataDir, Digits, mnist_or_digits, write_idx
from bioplaus.tasks.digits import digits_arrays
from bioplaus.tasks.mnist import FILES

NOKLAND = Path(__file__).resolve().parent.parent / "protocols" / "nokland2016_dfa.py"


def write_tiny_mnist(folder: Path, n_train: int = 40, n_test: int = 12) -> None:
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        write_idx(folder / FILES[f"{split}_images"], rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(folder / FILES[f"{split}_labels"], rng.integers(0, 10, size=n, dtype=np.uint8))


def test_mnist_or_digits_chooses_by_data_dir(tmp_path):
    task = mnist_or_digits()
    assert isinstance(task, ByDataDir) and task.n_in == 784 and task.n_out == 10
    digits, mnist = task.choose(None), task.choose(str(tmp_path))
    assert isinstance(digits, Digits) and digits.side == 28 and digits.n_in == 784
    assert isinstance(mnist, MNIST) and mnist.n_in == 784
    assert digits.config() == {"task": "digits", "image": False, "side": 28} and mnist.config()["task"] == "mnist"
    assert Digits().config() == {"task": "digits", "image": False}  # side 8 keeps the configs stored before it existed


def test_digits_resized_to_28_keep_labels_and_constant_images():
    inst = Digits(side=28).instantiate(torch.Generator().manual_seed(0), None, "cpu", 16)
    x_tr, y_tr, x_te, y_te = digits_arrays()
    assert inst.test[0].shape == (len(x_te), 784) and inst.train_eval[0].shape == (len(x_tr), 784)
    assert torch.equal(inst.test[1], torch.from_numpy(y_te))
    # bilinear resizing keeps a constant image constant and the range of any image
    from bioplaus.tasks.digits import resize

    const = resize(torch.full((2, 64), 0.7), 28)
    torch.testing.assert_close(const, torch.full((2, 784), 0.7))
    big = inst.test[0]
    assert big.max() <= float(x_te.max()) + 1e-5 and big.min() >= float(x_te.min()) - 1e-5
    with pytest.raises(BioplausError, match="side"):
        Digits(side=0)


def test_nokland_protocol_quick_has_a_readout_baseline_and_switches_to_mnist(tmp_path):
    protocol = load_protocol(NOKLAND)
    quick = protocol.quick_version()
    assert [c.label for c in quick.conditions] == ["backprop", "direct_feedback_alignment", "shallow", "linear"]
    assert quick.model.sizes == (40, 800, 10) and quick.model.activations == ("tanh", "linear")
    linear = quick.condition("linear").model  # a linear map of the inputs, following --data-dir below
    assert linear.sizes == (40, 800, 10) and linear.activations == ("linear", "linear")
    assert quick.task.model_with_data_dir.sizes == (784, 800, 10)
    mnist_claims = [c for c in protocol.targets if c.needs_data_dir]
    assert mnist_claims and all(c.proxy for c in protocol.targets)
    data = tmp_path / "mnist"
    write_tiny_mnist(data)
    assert quick.for_data_dir(str(data)).task.config()["task"] == "mnist"
    assert quick.for_data_dir(str(data)).condition("linear").model.sizes == (784, 800, 10)
    assert quick.for_data_dir(None).task.config() == {"task": "mnist1d", "split": "test"}

    tiny = dataclasses.replace(quick, rules=quick.rules[1:2], seeds=[0], steps=2, record_every=1)
    with Store(tmp_path / "s.sqlite") as store:
        assert run_protocol(tiny, store, data_dir=str(data), progress=False).done == 1
        (config,) = [json.loads(c) for c in store.runs(tiny.name)["config"]]
        assert config["task"]["task"] == "mnist" and config["model"]["sizes"][0] == 784
        acc = store.metrics(protocol=tiny.name, metric="test_accuracy")
        counts = acc["value"].to_numpy() * 12  # 12 test images: accuracy is a multiple of 1/12
        assert len(acc) == 3 and np.allclose(counts, np.round(counts))
        with pytest.raises(BioplausError, match="different configuration"):
            run_protocol(tiny, store, progress=False)  # MNIST-1D now: must not be taken for the MNIST run
