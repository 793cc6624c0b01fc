"""The compiled LIF kernel (``kernel = "cpp"``, :mod:`bioplaus.snn.lif_kernel`) against the torch path of
:class:`bioplaus.snn.lif.FusedSurrogateBPTT`, itself tested against autograd through :func:`run_lif`
(tests/test_snn_readouts.py).

In float64 the kernel gives the same spikes and the same gradients to 1e-10 (its sums run in another order: the
recurrent input over the spikes only), for both synapse kinds, with and without recurrent weights, every surrogate,
several seeds and inputs strong enough that neurons spike often. The kernel tests are ``slow`` (the first build takes
about a minute) and skipped without a C++ compiler and ninja; the spec checks run without compiling anything.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from bioplaus import models
from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.protocol import config_hash
from bioplaus.snn import lif_kernel
from bioplaus.snn.lif import SpikingNet, SpikingSpec, lif_spikes

have_compiler = shutil.which("ninja") is not None and (shutil.which("c++") or shutil.which("g++")) is not None
needs_compiler = pytest.mark.skipif(not have_compiler, reason="no C++ compiler or ninja")


def spec(**kw) -> SpikingSpec:
    base = {"name": "k", "n_in": 12, "n_hidden": 40, "n_out": 3, "input_scale": 6.0, "recurrent_gain": 1.5,
            "tau_syn_ms": 4.0, "tau_mem_ms": 10.0, "output": "mean"}
    base.update(kw)
    return SpikingSpec(**base)


def spike_input(batch: int, steps: int, n_in: int, seed: int, p: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((batch, steps, n_in), generator=g) < p).to(torch.float64)


# -- the kernel against the torch path -------------------------------------------------------------
@pytest.mark.slow
@needs_compiler
@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "sigmoid", "triangle"])
@pytest.mark.parametrize("recurrent", [True, False])
@pytest.mark.parametrize("synapse", ["current", "delta"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_kernel_gives_the_torch_paths_spikes_and_gradients_in_float64(seed, synapse, recurrent, surrogate):
    kw = {"synapse": synapse, "recurrent": recurrent, "surrogate": surrogate, "surrogate_slope": 2.0 if surrogate == "triangle" else 10.0}
    if synapse == "delta":
        kw["input_scale"] = 3.0
    net = SpikingNet(spec(**kw), torch.Generator().manual_seed(seed))
    x = spike_input(6, 80, 12, seed + 10)
    drive = (x @ net.w_in.t()).detach().requires_grad_(True)
    w_rec = net.w_rec.detach().requires_grad_(True) if recurrent else None
    inputs = [drive] + ([w_rec] if recurrent else [])
    g_out = torch.randn((6, 80, 40), generator=torch.Generator().manual_seed(seed + 20), dtype=torch.float64)
    z_torch = lif_spikes(drive, w_rec, net.constants)
    z_cpp = lif_spikes(drive, w_rec, net.constants._replace(kernel="cpp"))
    assert torch.equal(z_cpp, z_torch)
    assert z_torch.mean() > 0.05  # neurons spike often: the reset, the surrogate and the recurrent sum all matter
    want = torch.autograd.grad((z_torch * g_out).sum(), inputs)
    got = torch.autograd.grad((z_cpp * g_out).sum(), inputs)
    for w, g in zip(want, got):
        assert w.abs().max() > 1e-3
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.slow
@needs_compiler
@pytest.mark.parametrize("output", ["mean", "spike_count"])
@pytest.mark.parametrize("synapse", ["current", "delta"])
def test_the_models_gradient_with_the_kernel_equals_the_torch_paths(synapse, output):
    """Through the model: the input weights' gradient (autograd through the projection) and the read-out's too, and
    the spike-count read-out units (no recurrence) run through the kernel as well."""
    kw = {"synapse": synapse, "output": output, **({"input_scale": 3.0} if synapse == "delta" else {})}
    nets = {k: SpikingNet(spec(kernel=k, **kw), torch.Generator().manual_seed(5)) for k in ("torch", "cpp")}
    x = spike_input(8, 60, 12, 7)
    batch = Batch(x, torch.randint(0, 3, (8,), generator=torch.Generator().manual_seed(8)), torch.nn.functional.cross_entropy)
    want, got = nets["torch"].reference_gradient(batch), nets["cpp"].reference_gradient(batch)
    assert set(want) == set(got) and "input.weight" in want and "recurrent.weight" in want
    for name in want:
        assert want[name].abs().max() > 1e-6, name
        np.testing.assert_allclose(got[name].numpy(), want[name].numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.slow
@needs_compiler
def test_the_kernel_in_float32_is_close_to_the_torch_path():
    """float32: another summation order may flip a spike whose distance to the threshold is within rounding, so the
    check is on the fraction of spikes that agree and on the gradient where the two runs' spikes all agree."""
    net = SpikingNet(spec(dtype="float32", n_hidden=128), torch.Generator().manual_seed(0))
    x = spike_input(8, 100, 12, 3).float()
    drive = (x @ net.w_in.t()).detach().requires_grad_(True)
    w_rec = net.w_rec.detach().requires_grad_(True)
    z_torch = lif_spikes(drive, w_rec, net.constants)
    z_cpp = lif_spikes(drive, w_rec, net.constants._replace(kernel="cpp"))
    assert z_torch.mean() > 0.05
    assert (z_cpp != z_torch).float().mean() < 1e-3
    if torch.equal(z_cpp, z_torch):
        g_out = torch.randn(z_torch.shape, generator=torch.Generator().manual_seed(1))
        for w, g in zip(torch.autograd.grad((z_torch * g_out).sum(), [drive, w_rec]),
                        torch.autograd.grad((z_cpp * g_out).sum(), [drive, w_rec])):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-3, atol=1e-3 * float(w.abs().max()))


# -- the spec field ---------------------------------------------------------------------------------
def write_spec(tmp_path, extra: str):
    path = tmp_path / "net.toml"
    path.write_text(f'kind = "spiking_torch"\nn_in = 4\nn_hidden = 8\nn_out = 2\n{extra}\n')
    return path


def test_a_bad_kernel_value_is_refused_at_load(tmp_path):
    with pytest.raises(BioplausError) as err:
        models.load(write_spec(tmp_path, 'kernel = "cuda"'))
    text = str(err.value)
    assert "net.toml" in text and "'kernel'" in text and "'cuda'" in text and "'torch'" in text and "'cpp'" in text


def test_the_cpp_kernel_is_refused_for_neurons_it_does_not_cover(tmp_path):
    with pytest.raises(BioplausError) as err:
        models.load(write_spec(tmp_path, 'kernel = "cpp"\nneuron = "alif"\nadapt_strength = 0.5'))
    text = str(err.value)
    assert "'kernel'" in text and "neuron = 'alif'" in text and "kernel = 'torch'" in text


def test_the_default_kernel_leaves_the_run_config_as_it_was(tmp_path):
    """``kernel = "torch"`` is not written into the config (the hashes of runs stored before the field existed stay the
    same); ``kernel = "cpp"`` is, so a run's config says which kernel produced its numbers."""
    plain = models.load(write_spec(tmp_path, ""))
    assert "kernel" not in plain.to_dict()
    cpp = dataclasses.replace(plain, kernel="cpp")
    assert cpp.to_dict()["kernel"] == "cpp" and config_hash(cpp.to_dict()) != config_hash(plain.to_dict())
    assert models.load(write_spec(tmp_path, 'kernel = "torch"')).to_dict() == plain.to_dict()


def test_a_failed_build_is_one_paragraph_naming_the_field_and_the_fallback(monkeypatch):
    from torch.utils import cpp_extension

    def broken(*args, **kwargs):
        raise RuntimeError("Error building extension 'bioplaus_lif'\nc++: fatal error: no input files")

    monkeypatch.setattr(lif_kernel, "_module", None)
    monkeypatch.setattr(cpp_extension, "load_inline", broken)
    monkeypatch.setattr(cpp_extension, "get_cxx_compiler", lambda: "c++")
    with pytest.raises(BioplausError) as err:
        lif_kernel.compiled()
    text = str(err.value)
    assert "'kernel'" in text and "kernel = 'torch'" in text and "Error building extension" in text and "\n" not in text
    assert not lif_kernel.available()


def test_a_failed_build_stops_the_run_before_it_starts(tmp_path, monkeypatch, capsys):
    """Through ``bioplaus run``: exit 2, one paragraph naming the model, the field and the fallback; nothing stored."""
    import sqlite3

    from torch.utils import cpp_extension

    from bioplaus.cli import main

    def broken(*args, **kwargs):
        raise RuntimeError("Error building extension 'bioplaus_lif_x': [1/2] c++ -MMD main.cpp\nfatal error")

    monkeypatch.setattr(lif_kernel, "_module", None)
    monkeypatch.setattr(cpp_extension, "load_inline", broken)
    spec = tmp_path / "net.toml"  # Yin-Yang's 4 inputs and 3 classes
    spec.write_text('kind = "spiking_torch"\nn_in = 4\nn_hidden = 8\nn_out = 3\noutput = "mean"\nkernel = "cpp"\n')
    script = tmp_path / "p.py"
    script.write_text(f'''from bioplaus import Protocol, rules, tasks
protocol = Protocol(name="kernel_build", task=tasks.YinYangSpikes(n_train=64, n_test=32), model={str(spec)!r},
                    rules=[rules.Backprop(label="surrogate_bptt")], seeds=range(1), steps=2, batch_size=8, record_every=1,
                    metrics=["loss"])
''')
    store = tmp_path / "s.sqlite"
    capsys.readouterr()
    code = main(["run", str(script), "--store", str(store), "--no-progress", "--no-figure"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    for needle in ("model 'net'", "'kernel'", "kernel = 'torch'", "Error building extension 'bioplaus_lif_x'"):
        assert needle in err, err
    assert "c++ -MMD" not in err  # the build command line is left out of the paragraph
    if store.exists():
        assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
