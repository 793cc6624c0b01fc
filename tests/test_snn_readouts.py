"""Issue 17's second half: the fused surrogate-BPTT Function, the max-membrane and spike-count read-outs, delta
synapses (Bellec et al. 2020's neuron) and online e-prop, each against something not tuned to it.

- the hand-written adjoint (:class:`bioplaus.snn.lif.FusedSurrogateBPTT`) gives the same spikes as :func:`run_lif`
  bit for bit and the same gradient as autograd through it, float64 to 1e-10, over every option of the neuron;
- with each read-out the fused gradient equals autograd in the surrogate network (autograd equals central finite
  differences in the smooth-surrogate network with each read-out: tests/test_snn.py); a tiny case is checked by hand;
- online e-prop equals the offline estimate and carries a state whose size does not depend on T.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from bioplaus import models
from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.snn.lif import SpikingNet, SpikingSpec, run_lif
from bioplaus.tasks.sequence import sequence_squared_error


def spec(**kw) -> SpikingSpec:
    base = {"name": "t", "n_in": 3, "n_hidden": 5, "n_out": 2, "input_scale": 4.0, "recurrent_gain": 2.0, "tau_syn_ms": 4.0,
            "tau_mem_ms": 8.0}
    base.update(kw)
    return SpikingSpec(**base)


def spike_input(batch, steps, n_in, p=0.3, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((batch, steps, n_in), generator=g) < p).to(torch.float64)


OPTIONS = [
    {"neuron": "lif"},
    {"neuron": "lif", "detach_reset": False, "refractory_ms": 3.0},
    {"neuron": "lif", "reset": "zero", "detach_reset": False},
    {"neuron": "alif", "adapt_strength": 0.6, "refractory_ms": 2.0},
    {"neuron": "alif", "adapt_strength": 0.6, "detach_reset": False, "reset": "zero", "refractory_ms": 3.0},
    {"neuron": "lif", "synapse": "delta", "input_scale": 2.0},
    {"neuron": "alif", "synapse": "delta", "adapt_strength": 0.5, "detach_reset": False, "refractory_ms": 2.0, "input_scale": 2.0},
    {"neuron": "lif", "synapse": "delta", "reset": "zero", "detach_reset": False, "input_scale": 2.0},
]


# -- the fused Function against autograd -----------------------------------------------------------
@pytest.mark.parametrize("recurrent", [True, False])
@pytest.mark.parametrize("kw", OPTIONS)
def test_the_fused_adjoint_equals_autograd_through_the_loop(kw, recurrent):
    net = SpikingNet(spec(recurrent=recurrent, **kw), torch.Generator().manual_seed(3))
    x = spike_input(3, 25, 3, seed=1)
    drive = (x @ net.w_in.t()).detach().requires_grad_(True)
    w_rec = net.w_rec.detach().requires_grad_(True) if recurrent else None
    g_out = torch.randn((3, 25, 5), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    inputs = [drive] + ([w_rec] if recurrent else [])
    z_ref = run_lif(drive, w_rec, net.constants).z
    z = net.spikes(x) if not recurrent else None  # through the module as well
    from bioplaus.snn.lif import lif_spikes

    z_fused = lif_spikes(drive, w_rec, net.constants)
    assert torch.equal(z_fused, z_ref) and (z is None or torch.equal(z, z_ref))
    assert z_ref.sum() >= 10  # spikes happen, so the surrogate, the reset and the refractoriness matter
    want = torch.autograd.grad((z_ref * g_out).sum(), inputs)
    got = torch.autograd.grad((z_fused * g_out).sum(), inputs)
    for w, g in zip(want, got):
        assert w.abs().max() > 1e-6
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-13)


def test_the_fused_forward_gives_the_same_spikes_in_float32_over_a_long_run():
    net = SpikingNet(spec(n_in=20, n_hidden=64, dtype="float32", recurrent_gain=1.5), torch.Generator().manual_seed(0))
    x = spike_input(4, 400, 20, p=0.1).float()
    with torch.no_grad():
        assert torch.equal(net.spikes(x), net.trajectory(x).z)


# -- read-outs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("output", ["max_membrane", "spike_count"])
def test_the_reference_gradient_is_autograd_through_the_surrogate_network_with_each_readout(output):
    net = SpikingNet(spec(output=output, detach_reset=False, input_scale=6.0), torch.Generator().manual_seed(1))
    with torch.no_grad():
        net.readout.weight.mul_(4.0)
        net.readout.bias.copy_(torch.tensor([0.5, 0.3]))
    x, y = spike_input(3, 15, 3, seed=6), torch.tensor([0, 1, 1])
    batch = Batch(x, y, torch.nn.functional.cross_entropy)
    ref = net.reference_gradient(batch)
    c = net.constants
    z = net.trajectory(x).z  # autograd through run_lif
    if output == "spike_count":
        out = run_lif(z @ net.readout.weight.t() + net.readout.bias, None, c._replace(adapt_strength=0.0)).z.sum(1)
        assert out.sum() > 0  # the read-out units spike
    else:
        t = torch.arange(15, dtype=torch.float64)
        kernel = torch.tril(c.kappa ** (t[:, None] - t[None]))  # y_t = sum_(s <= t) kappa^(t - s) u_s
        out = net.output_of(torch.einsum("ts,bso->bto", kernel, z @ net.readout.weight.t() + net.readout.bias))
    params = dict(net.named_parameters())
    want = torch.autograd.grad(batch.loss(out), list(params.values()))
    for (key, _), w in zip(params.items(), want):
        assert w.abs().max() > 1e-8, key
        np.testing.assert_allclose(ref[key].numpy(), w.numpy(), rtol=1e-10, atol=1e-13)


def test_readouts_on_a_tiny_case_worked_out_by_hand():
    """One input spike at t = 0 to one delta-synapse LIF neuron (alpha = 1/2, w_in = 3), read out with kappa = 1/2,
    W_out = 2, b = 1/4. By hand: v = 3 after step 0 (the input arrives after the threshold), v^_1 = 1.5 > 1, so the neuron
    spikes at t = 1 only; y = 0.25, 2.375, 1.4375, 0.96875. The spiking read-out neuron (same kind) gets 0.25, 2.25,
    0.25, 0.25: v = 0.25, 2.375, then v^_2 = 1.1875 > 1 spikes once."""
    tau = 1.0 / math.log(2.0)
    base = dict(name="hand", n_in=1, n_hidden=1, n_out=1, synapse="delta", tau_mem_ms=tau, tau_readout_ms=tau, recurrent=False)
    x = torch.tensor([[[1.0], [0.0], [0.0], [0.0]]], dtype=torch.float64)
    want = {"trace": [[[0.25], [2.375], [1.4375], [0.96875]]], "mean": [[1.2578125]], "max_membrane": [[2.375]], "spike_count": [[1.0]]}
    for output, value in want.items():
        net = SpikingNet(SpikingSpec(output=output, **base))
        with torch.no_grad():
            net.input["weight"].fill_(3.0)
            net.readout.weight.fill_(2.0)
            net.readout.bias.fill_(0.25)
            assert net.spikes(x)[0, :, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
            out = net(x)
        assert out.shape == torch.Size(np.shape(value)), output
        np.testing.assert_allclose(out.numpy(), np.array(value), rtol=1e-12, err_msg=output)


def test_rules_that_need_the_leaky_readout_refuse_spiking_readout_units_at_build_time():
    from bioplaus import Protocol, rules, tasks

    counts = dataclasses.replace(models.load("snn_yinyang"), output="spike_count")
    for rule in (rules.SpikingEProp(), rules.SpikingDFA()):
        with pytest.raises(BioplausError, match="spiking:leaky_readout") as e:
            Protocol(name="bad", task=tasks.YinYangSpikes(), model=counts, rules=[rule], steps=1)
        assert "spike_count" in str(e.value)  # the paragraph says which read-outs have it
    Protocol(name="ok", task=tasks.YinYangSpikes(), model=counts, steps=1,
             rules=[rules.Backprop(), rules.SpikingReadoutOnly(), rules.SpikingTruncatedBPTT(), rules.SpikingThreeFactor()])


def test_an_unknown_synapse_or_output_names_the_allowed_values(tmp_path):
    for field, words in (("synapse", "'current' or 'delta'"), ("output", "'max_membrane' or 'spike_count'")):
        path = tmp_path / "bad.toml"
        path.write_text(f'kind = "spiking_torch"\nn_in = 4\nn_hidden = 8\nn_out = 3\n{field} = "x"\n')
        with pytest.raises(BioplausError) as e:
            models.load(path)
        assert str(path) in str(e.value) and field in str(e.value) and words in str(e.value)


# -- e-prop: max-membrane read-out, delta synapses, online --------------------------------------------
@pytest.mark.parametrize("kw", [
    {"output": "max_membrane"},
    {"synapse": "delta", "input_scale": 2.0},
    {"synapse": "delta", "neuron": "alif", "adapt_strength": 0.6, "detach_reset": False, "refractory_ms": 2.0, "input_scale": 2.0},
    {"synapse": "delta", "reset": "zero", "detach_reset": False, "output": "max_membrane", "input_scale": 2.0},
])
def test_symmetric_eprop_is_surrogate_bptt_without_recurrent_weights_for_these_models_too(kw):
    from bioplaus.rules import SpikingEProp

    net = SpikingNet(spec(recurrent=False, **{"input_scale": 6.0, **kw}), torch.Generator().manual_seed(2))
    x = spike_input(3, 12, 3, seed=6)
    if net.spec.output == "trace":
        y, loss_fn = torch.randn((3, 12, 2), generator=torch.Generator().manual_seed(7), dtype=torch.float64), sequence_squared_error
    else:
        with torch.no_grad():
            net.readout.bias.copy_(torch.tensor([0.3, -0.2]))
        y, loss_fn = torch.tensor([0, 1, 1]), torch.nn.functional.cross_entropy
    batch = Batch(x, y, loss_fn)
    with torch.no_grad():
        assert net.trajectory(x).z.sum() >= 6
    est, ref = SpikingEProp().estimate(net, batch), net.reference_gradient(batch)
    for key in ref:
        assert ref[key].abs().max() > 1e-8, key
        np.testing.assert_allclose(est[key].numpy(), ref[key].numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kw", [
    {"neuron": "lif"},
    {"neuron": "alif", "adapt_strength": 0.6, "detach_reset": False, "refractory_ms": 3.0},
    {"synapse": "delta", "reset": "zero", "detach_reset": False, "input_scale": 2.0},
])
@pytest.mark.parametrize("feedback", ["symmetric", "random"])
def test_online_eprop_is_the_offline_estimate_with_a_state_that_does_not_grow_with_t(kw, feedback):
    from bioplaus.rules import SpikingEProp

    net = SpikingNet(spec(recurrent=True, **{"input_scale": 6.0, **kw}), torch.Generator().manual_seed(2))
    sizes = []
    for steps in (12, 48):
        x = spike_input(3, steps, 3, seed=6)
        y = torch.randn((3, steps, 2), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
        y[:, ::5] = float("nan")  # unscored steps
        batch = Batch(x, y, sequence_squared_error)
        offline, online = SpikingEProp(feedback), SpikingEProp(feedback, online=True)
        offline.setup(net, torch.Generator().manual_seed(0))
        online.setup(net, torch.Generator().manual_seed(0))
        want, got = offline.estimate(net, batch), online.estimate(net, batch)
        for key in want:
            assert want[key].abs().max() > 1e-8, key
            np.testing.assert_allclose(got[key].numpy(), want[key].numpy(), rtol=1e-10, atol=1e-13)
        sizes.append(online.state_bytes)
    assert sizes[0] == sizes[1] > 0


def test_online_eprop_refuses_a_model_without_a_signal_at_every_step():
    from bioplaus.rules import SpikingEProp

    net = SpikingNet(spec(output="mean"))
    with pytest.raises(BioplausError, match="output = 'trace'"):
        SpikingEProp(online=True).setup(net, torch.Generator().manual_seed(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_the_fused_gradient_on_cuda_equals_the_cpu_one():
    net = SpikingNet(spec(neuron="alif", adapt_strength=0.6, refractory_ms=2.0, output="max_membrane"), torch.Generator().manual_seed(3))
    x, y = spike_input(3, 20, 3, seed=1), torch.tensor([0, 1, 1])
    cpu = net.reference_gradient(Batch(x, y, torch.nn.functional.cross_entropy))
    gpu = net.to("cuda").reference_gradient(Batch(x.cuda(), y.cuda(), torch.nn.functional.cross_entropy))
    for key, value in cpu.items():
        np.testing.assert_allclose(gpu[key].cpu().numpy(), value.numpy(), rtol=1e-9, atol=1e-12)


def test_saved_bytes_counts_each_saved_storage_once_and_the_fused_bptt_saves_less_than_autograd():
    from bioplaus.bench.snn import saved_bytes

    a = torch.randn(10, 20, requires_grad=True)
    b = torch.randn(10, 20, requires_grad=True)
    assert saved_bytes(lambda: (a * b).sum()) == 2 * 10 * 20 * 4  # mul saves both factors
    assert saved_bytes(lambda: (a * a).sum()) == 10 * 20 * 4  # one storage, counted once
    net = SpikingNet(spec(n_hidden=16, recurrent_gain=1.0), torch.Generator().manual_seed(0))
    sizes = {}
    for steps in (20, 40):
        x = spike_input(2, steps, 3)
        fused = saved_bytes(lambda x=x: net(x).sum())
        autograd = saved_bytes(lambda x=x: net(x, spike=lambda d: run_lif_spike(d, net)).sum())
        assert fused < autograd
        sizes[steps] = fused
    assert sizes[40] > sizes[20]  # BPTT keeps the whole sequence


def run_lif_spike(distance: torch.Tensor, net: SpikingNet) -> torch.Tensor:
    """The surrogate spike, passed explicitly so that the model runs autograd through run_lif instead of the fused Function."""
    from bioplaus.snn.lif import spike_with_surrogate

    return spike_with_surrogate(net.constants)(distance)
