"""Predictive coding (inference learning) and Z-IL against backprop and against closed forms, in float64."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from bioplaus import models
from bioplaus.metrics import grouped_angles
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules import Batch, PredictiveCoding, ZeroDivergenceInferenceLearning
from bioplaus.rules.predictive_coding import (
    PCNet,
    energy,
    feedforward_state,
    inference_step,
)
from bioplaus.tasks import cross_entropy, squared_error
from bioplaus.train import layer_groups


def make_net(sizes, activation="tanh", seed=0):
    spec = FeedforwardSpec(name="t", sizes=tuple(sizes), activations=(activation,) * (len(sizes) - 2) + ("linear",))
    return models.build(spec, torch.Generator().manual_seed(seed)).double()


def make_batch(net, loss, n=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, net.spec.sizes[0]), generator=g, dtype=torch.float64)
    if loss is cross_entropy:
        y = torch.randint(0, net.spec.sizes[-1], (n,), generator=g)
    else:
        y = torch.randn((n, net.spec.sizes[-1]), generator=g, dtype=torch.float64)
    return Batch(x, y, loss)


def forbid_autograd(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("autograd called inside the rule")
    monkeypatch.setattr(torch.autograd, "grad", refuse)
    monkeypatch.setattr(torch.Tensor, "backward", refuse)


@pytest.mark.parametrize("sizes", [(6, 9, 8, 4), (6, 9, 8, 7, 9, 8, 4)], ids=["3 layers", "6 layers"])
@pytest.mark.parametrize("loss", [cross_entropy, squared_error], ids=["cross-entropy", "squared error"])
def test_zil_equals_backprop_exactly_without_autograd(sizes, loss, monkeypatch):
    net = make_net(sizes)
    batch = make_batch(net, loss)
    exact = net.reference_gradient(batch)
    forbid_autograd(monkeypatch)
    with torch.no_grad():
        est = ZeroDivergenceInferenceLearning().estimate(net, batch)
    assert set(est) == set(exact)
    for k in exact:
        assert est[k].shape == exact[k].shape
        scale = float(exact[k].abs().max())
        assert scale > 0
        assert float((est[k] - exact[k]).abs().max()) <= 1e-12 * scale, k


def test_pc_with_zil_rate_but_updates_at_the_end_is_not_backprop():
    """The schedule matters: the same inference (gamma = 1, L - 1 steps) with every update at the last step differs."""
    net = make_net((6, 9, 8, 7, 4))
    batch = make_batch(net, cross_entropy)
    exact = net.reference_gradient(batch)
    est = PredictiveCoding(inference_rate=1.0, steps=3).estimate(net, batch)
    angles = grouped_angles(est, exact, layer_groups(net))
    assert angles["all"] > 1.0


def test_pc_angle_to_backprop_vanishes_linearly_with_output_precision():
    net = make_net((6, 12, 10, 8, 4))
    batch = make_batch(net, cross_entropy, n=16)
    exact = net.reference_gradient(batch)
    betas = [1.0, 0.1, 0.01, 0.001]
    angles = []
    for beta in betas:
        est = PredictiveCoding(inference_rate=0.2, steps=400, output_precision=beta).estimate(net, batch)
        angles.append(grouped_angles(est, exact, layer_groups(net))["all"])
    assert all(a > b for a, b in itertools.pairwise(angles)), angles
    assert angles[-1] < 0.2, angles
    slope = np.polyfit(np.log(betas[1:]), np.log(angles[1:]), 1)[0]  # angle ~ beta^slope
    assert 0.9 < slope < 1.1, (slope, angles)


def test_pc_angle_stays_off_backprop_without_inference_convergence():
    """Few steps: the errors have not reached the lower layers, whose updates are 0 (not backprop's)."""
    net = make_net((6, 12, 10, 8, 4))
    batch = make_batch(net, cross_entropy, n=16)
    exact = net.reference_gradient(batch)
    est = PredictiveCoding(inference_rate=0.2, steps=1, output_precision=0.001).estimate(net, batch)
    assert float(est["layers.hidden1.weight"].abs().max()) == 0.0
    assert grouped_angles(est, exact, layer_groups(net))["all"] > 1.0


def linear_energy_hessian(net, beta):
    """The Hessian of one sample's energy in the stacked hidden value nodes, by autograd on an independent formula."""
    ws = [net.linear(n).weight.detach() for n in net.layer_names]
    sizes = [w.shape[0] for w in ws[:-1]]

    def f(z):
        parts = list(torch.split(z, sizes))
        e = 0.5 * (parts[0] - 0).square().sum()  # x = 0, biases 0: the quadratic form alone
        for l in range(1, len(parts)):
            e = e + 0.5 * (parts[l] - ws[l] @ parts[l - 1]).square().sum()
        return e + beta * 0.5 * (ws[-1] @ parts[-1]).square().sum()

    return torch.autograd.functional.hessian(f, torch.zeros(sum(sizes), dtype=torch.float64))


@pytest.mark.parametrize("beta", [1.0, 3.0])
def test_energy_never_increases_below_the_rate_bound_and_does_above_it(beta):
    net = make_net((5, 8, 7, 6, 3), activation="linear", seed=2)
    batch = make_batch(net, squared_error, n=9)
    lip = float(torch.linalg.eigvalsh(linear_energy_hessian(net, beta)).max())
    below = PredictiveCoding(inference_rate=1.95 / lip, steps=300, output_precision=beta)
    below.estimate(net, batch)
    e = np.array(below.energies)
    assert np.all(np.diff(e) <= 1e-12 * e[0]), np.diff(e).max()
    assert e[-1] < e[0]
    above = PredictiveCoding(inference_rate=2.1 / lip, steps=300, output_precision=beta)
    above.estimate(net, batch)
    assert np.any(np.diff(above.energies) > 0)


@pytest.mark.parametrize("beta", [1.0, 0.2])
def test_deep_linear_equilibrium_energy_is_the_closed_form(beta):
    """F* = 1/2 r^T C^-1 r, r = y - W_L..W_1 x, C = sum_l P_l P_l^T + I / beta, P_l = W_L..W_{l+1} (unit hidden variances)."""
    net = make_net((5, 8, 7, 6, 3), activation="linear", seed=4)
    with torch.no_grad():
        for name in net.layer_names:
            net.linear(name).bias.normal_(generator=torch.Generator().manual_seed(5))
    batch = make_batch(net, squared_error, n=9)
    lip = float(torch.linalg.eigvalsh(linear_energy_hessian(net, beta)).max())
    rule = PredictiveCoding(inference_rate=1.0 / lip, steps=4000, output_precision=beta)
    rule.estimate(net, batch)
    ws = [net.linear(n).weight.detach() for n in net.layer_names]
    with torch.no_grad():
        r = batch.y - net(batch.x)
    c = torch.eye(3, dtype=torch.float64) / beta
    for l in range(len(ws) - 1):
        p = torch.eye(3, dtype=torch.float64)
        for w in reversed(ws[l + 1:]):
            p = p @ w
        c = c + p @ p.t()
    closed = float(0.5 * (r @ torch.linalg.inv(c) * r).sum(1).mean())
    assert rule.energies[0] > 1.5 * closed  # relaxation did something to check
    assert rule.energies[-1] == pytest.approx(closed, rel=1e-9)


def test_zil_energy_trace_and_pc_state_start_at_feedforward():
    net = make_net((4, 6, 5, 3))
    batch = make_batch(net, squared_error)
    s = feedforward_state(PCNet.of(net), batch.x, batch.y, batch.loss_fn, 1.0)
    assert all(float(e.abs().max()) == 0.0 for e in s.eps[:-1])
    with torch.no_grad():
        assert torch.equal(s.output, net(batch.x))
        assert energy(s, batch.y, batch.loss_fn, 1.0) == pytest.approx(float(batch.loss(net(batch.x))), rel=1e-14)
    s2 = inference_step(PCNet.of(net), s, batch.y, batch.loss_fn, 1.0, 0.1)
    assert math.isfinite(energy(s2, batch.y, batch.loss_fn, 1.0))


def test_a_float64_spec_runs_zil_on_float32_data_at_float64_rounding():
    """``dtype = "float64"`` in a feedforward spec: the net casts float32 inputs, Z-IL's angle to backprop through the
    run loop is at float64 rounding (the whittington2017_pc protocol's Z-IL condition)."""
    from bioplaus.tasks.base import TaskInstance
    from bioplaus.train import Trainer

    spec = FeedforwardSpec(name="t", sizes=(6, 9, 8, 4), activations=("tanh", "tanh", "linear"), dtype="float64")
    net = models.build(spec, torch.Generator().manual_seed(0))
    assert net.linear("hidden1").weight.dtype == torch.float64
    g = torch.Generator().manual_seed(1)
    batch = Batch(torch.randn((8, 6), generator=g), torch.randint(0, 4, (8,), generator=g), cross_entropy)  # float32 data
    assert net(batch.x).dtype == torch.float64
    task = TaskInstance(cross_entropy, lambda: batch, test=(batch.x, batch.y), train_eval=None, n_train=None, classification=True)
    trainer = Trainer(net, ZeroDivergenceInferenceLearning(), task, ("sgd", {"lr": 0.1}), ["update_angle"], 8)
    for step in range(3):
        trainer.step(step, batch, record=True)
    angles = [r[4] for r in trainer.rows if r[2] == "update_angle" and r[3] == "all"]
    assert len(angles) == 3 and max(angles) < 1e-9, angles


def test_spec_dtype_is_validated_and_float32_specs_store_as_before():
    from bioplaus.errors import BioplausError
    from bioplaus.rate.spec import feedforward_spec_from_dict

    with pytest.raises(BioplausError, match="dtype.*float64"):
        feedforward_spec_from_dict({"sizes": [2, 3], "activations": ["linear"], "dtype": "float16"}, "m.toml", "m")
    spec = feedforward_spec_from_dict({"sizes": [2, 3], "activations": ["linear"]}, "m.toml", "m")
    assert "dtype" not in spec.to_dict()
    assert feedforward_spec_from_dict({**spec.to_dict(), "dtype": "float64"}, "m.toml", "m").to_dict()["dtype"] == "float64"
