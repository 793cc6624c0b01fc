"""The torch spiking network (bioplaus.snn), tested against things that were not tuned to it.

- the same LIF / ALIF network built in Brian2 directly (numpy target: nothing compiles) gives the
  same spikes, spike for spike over 1,000 steps on 100 neurons, and the same membrane to float tolerance;
- surrogate-gradient BPTT (autograd) equals an independent float64 forward-mode recursion in numpy of
  the same surrogate derivative (every path, through every neuron), on a tiny recurrent network;
- in the network whose spike is replaced by a smooth function with the surrogate as its derivative,
  autograd equals central finite differences;
- specs are validated on load.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bioplaus import models
from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.snn.lif import (
    SpikingNet,
    SpikingSpec,
    lif_constants,
    readout_traces,
    smooth_spike,
    surrogate_derivative,
)
from bioplaus.tasks.sequence import sequence_squared_error


def spec(**kw) -> SpikingSpec:
    base = {"name": "t", "n_in": 3, "n_hidden": 4, "n_out": 2, "input_scale": 4.0, "recurrent_gain": 2.0, "tau_syn_ms": 4.0, "tau_mem_ms": 8.0}
    base.update(kw)
    return SpikingSpec(**base)


def spike_input(batch, steps, n_in, p=0.3, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((batch, steps, n_in), generator=g) < p).to(torch.float64)


def target(batch, steps, n_out, seed=1) -> torch.Tensor:
    return torch.randn((batch, steps, n_out), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# -- Brian2 and torch: one network, two engines -----------------------------------------------------
def brian2_run(net: SpikingNet, x: np.ndarray):
    """The network of ``net`` built in Brian2 directly (numpy target), on input spikes ``x`` ``(T, n_in)``:
    spikes ``(T, n)`` and the membrane after each step's reset ``(T, n)``."""
    b2 = pytest.importorskip("brian2")
    s = net.spec
    previous = b2.prefs.codegen.target
    b2.prefs.codegen.target = "numpy"
    try:
        dt = s.dt_ms * b2.ms
        steps, n_in = x.shape
        if s.synapse == "delta":  # Bellec et al. 2020's neuron: the synapses jump the membrane
            # without "(unless refractory)": with it, Brian2 (2.x, numpy target) drops the jump v += w arriving in a
            # neuron's spike step, which the torch model does not model; delta synapses are compared without refractoriness
            assert not s.refractory_ms
            eqs, target = "dv/dt = -v / tau_m : 1\nda/dt = -a / tau_a : 1", "v_post += w"
        else:
            eqs, target = "dv/dt = (I - v) / tau_m : 1 (unless refractory)\ndI/dt = -I / tau_s : 1\nda/dt = -a / tau_a : 1", "I_post += w"
        reset = ("v -= theta" if s.reset == "subtract" else "v = 0") + "\na += 1"
        hidden = b2.NeuronGroup(s.n_hidden, eqs, threshold="v > theta + beta * a", reset=reset, method="exact",
                                refractory=s.refractory_ms * b2.ms, dt=dt, name="hidden",
                                namespace={"tau_m": s.tau_mem_ms * b2.ms, "tau_s": s.tau_syn_ms * b2.ms, "tau_a": s.tau_adapt_ms * b2.ms,
                                               "theta": s.threshold, "beta": s.adapt_strength if s.neuron == "alif" else 0.0})
        t_idx, i_idx = np.nonzero(x)
        inputs = b2.SpikeGeneratorGroup(n_in, i_idx, t_idx * dt, dt=dt, name="inputs")
        w_in = net.w_in.detach().numpy()
        feed = b2.Synapses(inputs, hidden, "w : 1", on_pre=target, dt=dt, name="input_synapses")
        feed.connect()
        feed.w[:] = w_in[feed.j[:], feed.i[:]]
        objects = [hidden, inputs, feed]
        if s.recurrent:
            w_rec = net.w_rec.detach().numpy()
            rec = b2.Synapses(hidden, hidden, "w : 1", on_pre=target, dt=dt, name="recurrent_synapses")
            rec.connect(condition="i != j")
            rec.w[:] = w_rec[rec.j[:], rec.i[:]]
            objects.append(rec)
        spikes = b2.SpikeMonitor(hidden, name="spikes")
        membrane = b2.StateMonitor(hidden, "v", record=True, dt=dt, name="membrane")  # at the start of each step
        b2.Network(*objects, spikes, membrane).run((steps + 1) * dt)
        z = np.zeros((steps + 1, s.n_hidden))
        z[np.round(np.asarray(spikes.t / dt)).astype(int), np.asarray(spikes.i)] = 1.0
        return z[:steps], np.asarray(membrane.v).T[1:]
    finally:
        b2.prefs.codegen.target = previous


@pytest.mark.parametrize("neuron, reset, refractory_ms, synapse", [
    ("lif", "subtract", 0.0, "current"), ("lif", "zero", 3.0, "current"), ("alif", "subtract", 2.0, "current"),
    ("lif", "subtract", 0.0, "delta"), ("alif", "zero", 0.0, "delta"),
])
def test_brian2_and_torch_give_the_same_spikes(neuron, reset, refractory_ms, synapse):
    s = SpikingSpec(name="b2", n_in=50, n_hidden=100, n_out=1, neuron=neuron, reset=reset, refractory_ms=refractory_ms, synapse=synapse,
                    adapt_strength=0.5 if neuron == "alif" else 0.0, input_scale=3.0 if synapse == "current" else 1.0,
                    recurrent_gain=2.0 if synapse == "current" else 0.5)
    net = SpikingNet(s, torch.Generator().manual_seed(1))
    x = (np.random.default_rng(0).random((1000, 50)) < 0.05).astype(np.float64)
    with torch.no_grad():
        tr = net.trajectory(torch.from_numpy(x)[None])
    z = tr.z[0].numpy()
    v_after = (tr.v_reset_from - s.threshold * tr.z if reset == "subtract" else tr.v_reset_from * (1 - tr.z))[0].numpy()
    z_b2, v_b2 = brian2_run(net, x)
    assert z.sum() > 200  # the layer is active: the comparison has spikes to compare
    assert np.array_equal(z, z_b2), f"{int(np.abs(z - z_b2).sum())} spikes differ"
    np.testing.assert_allclose(v_after, v_b2, rtol=1e-9, atol=1e-9)
    if refractory_ms:  # refractoriness took effect: no neuron spiked twice within k steps
        k = round(refractory_ms / s.dt_ms)
        gaps = np.concatenate([np.diff(np.nonzero(z[:, j])[0]) for j in range(s.n_hidden)])
        assert gaps.min() >= k


# -- surrogate BPTT against an independent recursion ----------------------------------------------
def forward_mode_gradient(net: SpikingNet, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """d L / d (W_in, W_rec) of the squared trace loss by forward-mode differentiation (RTRL) in numpy, float64:
    every path, through every neuron, with the spike's derivative replaced by the surrogate and the reset
    differentiated or not as the spec says. ``x`` ``(B, T, m)``, ``y`` ``(B, T, n_out)``."""
    c = lif_constants(net.spec)
    w_in, w_rec = net.w_in.detach().numpy(), net.w_rec.detach().numpy()
    w_out, b_out = net.readout.weight.detach().numpy(), net.readout.bias.detach().numpy()
    batch, steps, m = x.shape
    n = w_in.shape[0]
    n_par = n * m + n * n
    grad = np.zeros(n_par)
    for b in range(batch):
        i_syn, v, a = np.zeros(n), np.zeros(n), np.zeros(n)
        d_i, d_v, d_a = np.zeros((n, n_par)), np.zeros((n, n_par)), np.zeros((n, n_par))
        zs, dzs = [], []
        for t in range(steps):
            v_hat, d_vhat = c.alpha_mem * v + c.coupling * i_syn, c.alpha_mem * d_v + c.coupling * d_i
            a_hat, d_ahat = c.rho_adapt * a, c.rho_adapt * d_a
            dist = v_hat - c.threshold - c.adapt_strength * a_hat
            z = (dist > 0).astype(float)
            psi = surrogate_derivative(torch.from_numpy(dist), c.surrogate, c.surrogate_slope, c.surrogate_scale).numpy()
            d_z = psi[:, None] * (d_vhat - c.adapt_strength * d_ahat)
            direct = np.zeros((n, n_par))  # d (W_in x_t + W_rec z_t) / d W at fixed x, z
            for j in range(n):
                direct[j, j * m : (j + 1) * m] = x[b, t]
                direct[j, n * m + j * n : n * m + (j + 1) * n] = z
            i_syn = c.alpha_syn * i_syn + w_in @ x[b, t] + w_rec @ z
            d_i = c.alpha_syn * d_i + direct + w_rec @ d_z
            v = v_hat - c.threshold * z
            d_v = d_vhat - (0.0 if c.detach_reset else c.threshold) * d_z
            a, d_a = a_hat + z, d_ahat + d_z
            zs.append(z)
            dzs.append(d_z)
        ys, yv = [], np.zeros(w_out.shape[0])
        for t in range(steps):
            yv = c.kappa * yv + w_out @ zs[t] + b_out
            ys.append(yv)
        err = np.stack(ys) - y[b]  # dL/dy_t for L = 1/2 sum (y - target)^2, one sequence
        back = np.zeros(w_out.shape[0])
        for t in reversed(range(steps)):  # dL/dz_t through the read-out: sum_{t' >= t} kappa^(t'-t) err_t' W_out
            back = c.kappa * back + err[t]
            grad += (back @ w_out) @ dzs[t]
    grad /= batch
    mask = (1.0 - np.eye(n)).reshape(-1)
    return {"input.weight": grad[: n * m].reshape(n, m), "recurrent.weight": (grad[n * m :] * mask).reshape(n, n)}


@pytest.mark.parametrize("neuron, detach_reset", [("lif", True), ("lif", False), ("alif", True), ("alif", False)])
def test_surrogate_bptt_equals_a_forward_mode_recursion_in_numpy(neuron, detach_reset):
    net = SpikingNet(spec(neuron=neuron, detach_reset=detach_reset, adapt_strength=0.7 if neuron == "alif" else 0.0),
                     torch.Generator().manual_seed(3))
    x, y = spike_input(2, 6, 3), target(2, 6, 2)
    got = net.reference_gradient(Batch(x, y, sequence_squared_error))
    want = forward_mode_gradient(net, x.numpy(), y.numpy())
    with torch.no_grad():
        assert net.trajectory(x).z.sum() >= 4  # spikes happen, so the surrogate and the reset matter
    for key, value in want.items():
        assert np.abs(value).max() > 1e-6
        np.testing.assert_allclose(got[key].numpy(), value, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("surrogate, output, synapse", [
    ("fast_sigmoid", "trace", "current"), ("sigmoid", "trace", "current"), ("triangle", "trace", "current"),
    ("fast_sigmoid", "mean", "delta"), ("fast_sigmoid", "max_membrane", "current"), ("fast_sigmoid", "max_membrane", "delta"),
    ("fast_sigmoid", "spike_count", "current"), ("sigmoid", "spike_count", "delta"),
])
def test_autograd_equals_finite_differences_in_the_smoothed_network(surrogate, output, synapse):
    """With each read-out and synapse: the max over time and the read-out units' spikes are smoothed too."""
    s = spec(neuron="alif", adapt_strength=0.5, detach_reset=False, surrogate=surrogate, surrogate_slope=2.0, output=output,
             synapse=synapse, input_scale=4.0 if synapse == "current" else 1.5)
    net = SpikingNet(s, torch.Generator().manual_seed(0))
    with torch.no_grad():
        net.readout.bias.copy_(torch.tensor([0.3, -0.2]))  # no ties in the max over time
    x = spike_input(2, 8, 3, seed=4)
    y, loss_fn = (target(2, 8, 2, seed=5), sequence_squared_error) if output == "trace" else (torch.tensor([0, 1]), torch.nn.functional.cross_entropy)
    smooth = lambda d: smooth_spike(d, s.surrogate, s.surrogate_slope, s.surrogate_scale)

    def loss() -> torch.Tensor:
        return loss_fn(net(x, spike=smooth), y)

    params = dict(net.named_parameters())
    grads = dict(zip(params, torch.autograd.grad(loss(), list(params.values()))))
    eps = 1e-6
    for name, p in params.items():
        for idx in [(0, 0), (1, 2), (-1, 1)] if p.dim() == 2 else [(0,), (1,)]:
            with torch.no_grad():
                old = p[idx].item()
                p[idx] = old + eps
                up = loss().item()
                p[idx] = old - eps
                down = loss().item()
                p[idx] = old
            fd = (up - down) / (2 * eps)
            assert abs(grads[name][idx].item() - fd) <= 1e-6 * max(1.0, abs(fd)), (name, idx)


def test_the_surrogate_is_the_derivative_of_the_smooth_spike():
    x = torch.linspace(-2, 2, 101, dtype=torch.float64, requires_grad=True)
    for kind in ("fast_sigmoid", "sigmoid", "triangle"):
        (d,) = torch.autograd.grad(smooth_spike(x, kind, 3.0, 0.7).sum(), x)
        np.testing.assert_allclose(d.numpy(), surrogate_derivative(x.detach(), kind, 3.0, 0.7).numpy(), rtol=1e-12, atol=1e-12)


# -- specs --------------------------------------------------------------------------------------
def test_the_shipped_spec_loads_and_builds():
    s = models.load("snn_yinyang")
    assert s.kind == "spiking_torch"
    net = models.build(s, torch.Generator().manual_seed(0))
    assert "spiking:torch" in net.capabilities


@pytest.mark.parametrize("field, value, words", [
    ("neuron", "izhikevich", "allowed values are 'lif' or 'alif'"),
    ("refractory_ms", 1.5, "whole number of steps"),
    ("tau_mem_ms", 0, "positive"),
    ("adapt_strength", 1.0, "neuron = 'alif'"),
    ("surrogate", "relu", "'fast_sigmoid', 'sigmoid' or 'triangle'"),
    ("recurrent", 1, "true or false"),
    ("tau_membrane", 20.0, "not a known field"),
])
def test_bad_specs_name_the_file_field_and_allowed_values(tmp_path, field, value, words):
    path = tmp_path / "bad.toml"
    path.write_text(f'kind = "spiking_torch"\nn_in = 4\nn_hidden = 8\nn_out = 3\n{field} = {value!r}\n'.replace("'", '"'))
    with pytest.raises(BioplausError) as e:
        models.load(path)
    text = str(e.value)
    assert str(path) in text and field in text and words.replace("'", '"') in text.replace("'", '"')


# -- spiking e-prop against surrogate BPTT ---------------------------------------------------------
def eprop_and_bptt(feedback="symmetric", **kw):
    from bioplaus.rules import SpikingEProp

    s = spec(**{"input_scale": 6.0, **kw})
    net = SpikingNet(s, torch.Generator().manual_seed(2))
    x = spike_input(3, 12, s.n_in, seed=6)
    if s.output == "trace":
        y, loss_fn = target(3, 12, s.n_out, seed=7), sequence_squared_error
    else:
        y, loss_fn = torch.tensor([0, 1, 1]), torch.nn.functional.cross_entropy
    batch = Batch(x, y, loss_fn)
    rule = SpikingEProp(feedback)
    rule.setup(net, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert net.trajectory(x).z.sum() >= 6  # spikes happen
    return rule.estimate(net, batch), net.reference_gradient(batch)


@pytest.mark.parametrize("kw", [
    {"neuron": "lif"},
    {"neuron": "lif", "detach_reset": False},
    {"neuron": "lif", "reset": "zero", "refractory_ms": 2.0},
    {"neuron": "lif", "reset": "zero", "detach_reset": False, "output": "mean", "n_out": 2},
    {"neuron": "alif", "adapt_strength": 0.6},
    {"neuron": "alif", "adapt_strength": 0.6, "detach_reset": False, "refractory_ms": 3.0},
])
def test_symmetric_eprop_is_surrogate_bptt_without_recurrent_weights(kw):
    """Bellec et al. 2020, eq. 1: with no recurrent weights every path from W_ji to the loss runs through neuron j's
    own state and its read-out, so the eligibility traces times the read-out's learning signal are the whole gradient."""
    est, ref = eprop_and_bptt(recurrent=False, **kw)
    assert set(est) == set(ref)
    for key in ref:
        assert ref[key].abs().max() > 1e-8, key
        np.testing.assert_allclose(est[key].numpy(), ref[key].numpy(), rtol=1e-10, atol=1e-13)


def test_eprop_differs_from_bptt_with_recurrent_weights():
    est, ref = eprop_and_bptt(recurrent=True, recurrent_gain=3.0)
    for key in ("readout.weight", "readout.bias"):
        np.testing.assert_allclose(est[key].numpy(), ref[key].numpy(), rtol=1e-12, atol=1e-14)
    for key in ("input.weight", "recurrent.weight"):
        assert float((est[key] - ref[key]).norm() / ref[key].norm()) > 1e-3, key  # paths through other neurons dropped
        assert float((est[key] * ref[key]).sum()) > 0  # still a descent direction here
    assert float(est["recurrent.weight"].diagonal().abs().max()) == 0.0  # no self-connections


def test_random_eprop_uses_its_own_feedback():
    est, ref = eprop_and_bptt("random", recurrent=False)
    np.testing.assert_allclose(est["readout.weight"].numpy(), ref["readout.weight"].numpy(), rtol=1e-12)
    assert float((est["input.weight"] - ref["input.weight"]).norm() / ref["input.weight"].norm()) > 0.1


# -- tasks and the read-out-only control ----------------------------------------------------------
def test_yin_yang_classes_follow_the_published_geometry():
    from bioplaus.tasks.yin_yang_spikes import yin_yang_class, yin_yang_points

    pts = torch.tensor([[0.25, 0.5], [0.75, 0.5], [0.5, 0.9], [0.5, 0.1], [0.25, 0.3], [0.75, 0.7]], dtype=torch.float64)
    # dot centres, top (yin), bottom (yang), inside the left big half-disc below the left dot (yin), right above (yang)
    assert yin_yang_class(pts[:, 0], pts[:, 1]).tolist() == [2, 2, 0, 1, 0, 1]
    points, cls = yin_yang_points(torch.Generator().manual_seed(0), 3000)
    assert bool((torch.hypot(points[:, 0] - 0.5, points[:, 1] - 0.5) <= 0.5).all())
    assert torch.equal(yin_yang_class(points[:, 0], points[:, 1]), cls)
    assert torch.bincount(cls).min() > 900  # balanced by drawing the class first


def test_ttfs_encoding_is_one_spike_per_input_at_its_value():
    from bioplaus.tasks.yin_yang_spikes import YinYangSpikes as YinYang

    task = YinYang(time_steps=12, encode_steps=11)
    x = task.encode(torch.tensor([[0.0, 0.3]], dtype=torch.float64))
    assert x.shape == (1, 12, 4) and x.sum().item() == 4
    assert torch.nonzero(x[0]).tolist() == [[0, 0], [3, 1], [7, 3], [10, 2]]  # steps 0, 3, round(0.7*10), 10


def test_readout_only_is_the_exact_readout_gradient_and_nothing_else():
    from bioplaus.rules.spiking_readout_only import SpikingReadoutOnly

    net = SpikingNet(spec(recurrent=True), torch.Generator().manual_seed(0))
    batch = Batch(spike_input(2, 10, 3), target(2, 10, 2), sequence_squared_error)
    est, ref = SpikingReadoutOnly().estimate(net, batch), net.reference_gradient(batch)
    for key in ("readout.weight", "readout.bias"):
        np.testing.assert_allclose(est[key].numpy(), ref[key].numpy(), rtol=1e-12)
    assert float(est["input.weight"].abs().max()) == 0.0 and float(est["recurrent.weight"].abs().max()) == 0.0
    assert float(ref["input.weight"].abs().max()) > 0.0


# -- spiking DFA -----------------------------------------------------------------------------------
def dfa_and_bptt(memoryless: bool, feedback: str = "symmetric"):
    from bioplaus.rules.spiking_dfa import SpikingDFA

    net = SpikingNet(spec(recurrent=False, input_scale=6.0), torch.Generator().manual_seed(2))
    if memoryless:  # the pure functions with nothing carried over a step: no leak, one-step current, no read-out leak
        net.constants = net.constants._replace(alpha_mem=0.0, alpha_syn=0.0, coupling=1.0, kappa=0.0)
    x = spike_input(3, 12, 3, p=0.6, seed=6)
    batch = Batch(x, target(3, 12, 2, seed=7), sequence_squared_error)
    rule = SpikingDFA(feedback)
    rule.setup(net, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert net.trajectory(x).z.sum() >= 6
    return rule.estimate(net, batch), net.reference_gradient(batch)


def test_spiking_dfa_with_symmetric_feedback_is_bptt_for_memoryless_units():
    est, ref = dfa_and_bptt(memoryless=True)
    for key in ref:
        assert ref[key].abs().max() > 1e-8, key
        np.testing.assert_allclose(est[key].numpy(), ref[key].numpy(), rtol=1e-10, atol=1e-13)
    est_random, _ = dfa_and_bptt(memoryless=True, feedback="random")  # random feedback: not the gradient
    assert float((est_random["input.weight"] - ref["input.weight"]).norm() / ref["input.weight"].norm()) > 0.1


def test_spiking_dfa_differs_from_bptt_with_a_leak():
    est, ref = dfa_and_bptt(memoryless=False)
    np.testing.assert_allclose(est["readout.weight"].numpy(), ref["readout.weight"].numpy(), rtol=1e-12)
    assert float((est["input.weight"] - ref["input.weight"]).norm() / ref["input.weight"].norm()) > 0.05


# -- the reward-modulated three-factor rule ---------------------------------------------------------
@pytest.mark.parametrize("kw", [{"recurrent": True}, {"recurrent": False, "neuron": "alif", "adapt_strength": 0.5, "reset": "zero"}])
def test_three_factor_score_is_the_gradient_of_expected_reward_over_every_spike_train(kw):
    """Enumerate all 2^(n T) spike trains of a 2-neuron network over 5 steps: the score of the escape-noise policy,
    weighted by each train's probability and reward, is the gradient of the expected reward (Williams 1992)."""
    from bioplaus.rules.spiking_three_factor import (
        escape_probability,
        per_sample_loss,
        weighted_score,
    )

    n, steps, temperature = 2, 5, 0.4
    net = SpikingNet(spec(n_hidden=n, input_scale=6.0, **kw), torch.Generator().manual_seed(4))
    trains = torch.tensor([[(k >> bit) & 1 for bit in range(n * steps)] for k in range(2 ** (n * steps))],
                          dtype=torch.float64).reshape(-1, steps, n)
    count = trains.shape[0]
    x = spike_input(1, steps, 3, p=0.5, seed=8).expand(count, -1, -1)
    batch = Batch(x, target(1, steps, 2, seed=9).expand(count, -1, -1), sequence_squared_error)

    order = iter(range(steps))

    def given(distance):  # the enumerated spikes, step by step, in place of sampling
        return trains[:, next(order)]

    tr = net.trajectory(x, spike=given)  # with autograd: the distance depends on the weights
    rho = escape_probability(tr, temperature)
    log_pi = torch.where(tr.z > 0, torch.log(rho), torch.log1p(-rho)).sum((1, 2))
    with torch.no_grad():
        out = net.output_of(readout_traces(tr.z, net.readout.weight, net.readout.bias, net.constants.kappa))
        reward = -per_sample_loss(batch, out)
    prob = log_pi.exp()
    assert abs(float(prob.detach().sum()) - 1.0) < 1e-12  # the enumeration is the whole distribution
    names = ["input.weight"] + (["recurrent.weight"] if kw["recurrent"] else [])
    params = dict(net.named_parameters())
    exact = dict(zip(names, torch.autograd.grad((prob * reward).sum(), [params[k] for k in names])))
    with torch.no_grad():
        detached = tr._replace(**{k: v.detach() for k, v in tr._asdict().items()})
        got = weighted_score(net, x, detached, temperature, prob.detach() * reward)
    for key in names:
        assert exact[key].abs().max() > 1e-6
        np.testing.assert_allclose(got[key].numpy(), exact[key].numpy(), rtol=1e-9, atol=1e-12)


def test_three_factor_estimate_runs_and_learns_its_baseline():
    from bioplaus.rules.spiking_three_factor import SpikingThreeFactor

    net = SpikingNet(spec(input_scale=6.0), torch.Generator().manual_seed(0))
    batch = Batch(spike_input(8, 10, 3), target(8, 10, 2), sequence_squared_error)
    rule = SpikingThreeFactor(temperature=0.3)
    rule.setup(net, torch.Generator().manual_seed(1))
    first = rule.estimate(net, batch)
    assert rule.baseline is not None and rule.baseline < 0
    second = rule.estimate(net, batch)
    assert set(first) == {k for k, _ in net.named_parameters()}
    assert not torch.equal(first["input.weight"], second["input.weight"])  # fresh spikes each call
    ref = net.reference_gradient(batch)
    assert first["readout.weight"].shape == ref["readout.weight"].shape


def test_the_benchmarks_plain_loop_is_the_same_network_and_gradient():
    from bioplaus.bench.snn import plain_loop_loss

    net = SpikingNet(spec(output="mean", n_out=3, input_scale=6.0), torch.Generator().manual_seed(0))
    batch = Batch(spike_input(4, 15, 3, p=0.5), torch.tensor([0, 1, 2, 1]), torch.nn.functional.cross_entropy)
    params = dict(net.named_parameters())
    plain = dict(zip(params, torch.autograd.grad(plain_loop_loss(net, batch.x, batch.y), list(params.values()))))
    ref = net.reference_gradient(batch)
    for key in ref:
        assert ref[key].abs().max() > 0
        np.testing.assert_allclose(plain[key].numpy(), ref[key].numpy(), rtol=1e-9, atol=1e-12)


def test_the_presynaptic_shortcut_equals_the_step_by_step_traces():
    from bioplaus.rules.spiking_eprop import (
        eligibility_sum,
        presynaptic_eligibility_sum,
    )

    net = SpikingNet(spec(input_scale=6.0, n_hidden=5), torch.Generator().manual_seed(1))
    x = spike_input(3, 14, 3, p=0.5)
    with torch.no_grad():
        tr = net.trajectory(x)
    g = torch.Generator().manual_seed(2)
    signal, psi = torch.randn((3, 14, 5), generator=g, dtype=torch.float64), torch.rand((3, 14, 5), generator=g, dtype=torch.float64)
    pre = torch.cat([x, tr.z], 2)
    general = eligibility_sum(signal, psi, pre, tr, net.constants._replace(refractory_steps=1))  # 1 step: no refractoriness, general path
    np.testing.assert_allclose(presynaptic_eligibility_sum(signal, psi, pre, net.constants).numpy(), general.numpy(), rtol=1e-12, atol=1e-14)


def test_truncated_bptt_is_bptt_with_a_window_as_long_as_the_sequence_and_differs_with_a_short_one():
    from bioplaus.rules.spiking_truncated_bptt import SpikingTruncatedBPTT

    net = SpikingNet(spec(neuron="alif", adapt_strength=0.5, input_scale=6.0), torch.Generator().manual_seed(3))
    batch = Batch(spike_input(3, 12, 3, p=0.5), target(3, 12, 2), sequence_squared_error)
    ref = net.reference_gradient(batch)
    full, short = SpikingTruncatedBPTT(k=12).estimate(net, batch), SpikingTruncatedBPTT(k=3).estimate(net, batch)
    for key in ref:
        np.testing.assert_allclose(full[key].numpy(), ref[key].numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(short["readout.weight"].numpy(), ref["readout.weight"].numpy(), rtol=1e-12)
    for key in ("input.weight", "recurrent.weight"):
        assert float((short[key] - ref[key]).norm() / ref[key].norm()) > 1e-3, key


# -- in the one run loop --------------------------------------------------------------------------
def test_a_spiking_protocol_runs_in_the_one_loop_and_measures_angles():
    from bioplaus import Condition, Protocol, rules, tasks
    from bioplaus.train import train_run

    protocol = Protocol(
        name="snn_tiny", task=tasks.PatternGeneration(n_in=20, duration_ms=30.0), model="snn_pattern",
        rules=[Condition(rules.Backprop(label="surrogate_bptt"), model={"n_hidden": 12, "dtype": "float64"}),
               Condition(rules.SpikingEProp("random", label="eprop_random"), model={"n_hidden": 12, "dtype": "float64"})],
        seeds=[0], steps=3, batch_size=1, optimizer=("adam", {"lr": 1e-2}), record_every=1,
        metrics=["loss", "test_loss", "update_angle"],
    )
    runs = {c: train_run(protocol, c, 0) for c in ("surrogate_bptt", "eprop_random")}
    assert all(r.status == "done" and r.steps_done == 3 for r in runs.values())
    angles = {(c, row[3]): row[4] for c, r in runs.items() for row in r.rows if row[2] == "update_angle" and row[0] == 0}
    assert angles[("surrogate_bptt", "all")] < 1e-6
    assert angles[("eprop_random", "input")] > 1.0  # random feedback: not the gradient
    initial = {k: v for k, v in runs["eprop_random"].arrays.items() if k.startswith("initial/")}
    assert any(not np.array_equal(v, runs["eprop_random"].arrays["final/" + k[8:]]) for k, v in initial.items())


def test_a_model_that_does_not_fit_the_task_is_refused_at_load():
    import dataclasses

    from bioplaus import Protocol, rules, tasks

    scores = dataclasses.replace(models.load("snn_yinyang"), n_out=1)  # class scores averaged over time
    with pytest.raises(BioplausError, match="output = 'mean'"):
        Protocol(name="bad", task=tasks.PatternGeneration(n_in=4), model=scores, rules=[rules.Backprop()], steps=1)
    traces = dataclasses.replace(models.load("snn_yinyang"), output="trace")
    with pytest.raises(BioplausError, match="output = 'trace'"):
        Protocol(name="bad", task=tasks.YinYangSpikes(), model=traces, rules=[rules.Backprop()], steps=1)
    with pytest.raises(BioplausError, match="spiking:torch"):
        Protocol(name="bad", task=tasks.Digits(), model="mlp_digits", rules=[rules.SpikingEProp()], steps=1)


def test_randman_is_the_product_of_random_sinusoid_sums_one_spike_per_unit():
    from bioplaus.tasks.randman import Randman, randman_values

    g = torch.Generator().manual_seed(0)
    params = torch.rand((3, 2, 3, 5), generator=g, dtype=torch.float64)
    u = torch.rand((4, 2), generator=g, dtype=torch.float64)
    # the formula written out element by element
    want = np.ones((4, 3))
    for n in range(4):
        for i in range(3):
            for d in range(2):
                want[n, i] *= sum(params[i, d, 0, k].item() * (k + 1) ** -2.0
                                  * np.sin(2 * np.pi * (k * u[n, d].item() * params[i, d, 1, k].item() + params[i, d, 2, k].item()))
                                  for k in range(5))
    np.testing.assert_allclose(randman_values(params, u, 2.0).numpy(), want, rtol=1e-12)
    x, y = Randman(n_classes=3, n_units=7, dim=2, time_steps=30, n_per_class=40).sample(torch.Generator().manual_seed(1))
    assert x.shape == (120, 30, 7) and torch.equal(x.sum(1), torch.ones((120, 7)))  # exactly one spike per unit
    assert torch.bincount(y).tolist() == [40, 40, 40]
    assert x[:, 0].sum() > 0 and x[:, -1].sum() > 0  # min-max scaling spans the whole window
