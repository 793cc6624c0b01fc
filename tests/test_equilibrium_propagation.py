"""Energy-based networks and the EP family against mathematics: energy descent, finite
differences, the beta -> 0 limit, bias slopes, BPTT, and a hand-computed tiny case."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bioplaus import models
from bioplaus.errors import BioplausError
from bioplaus.metrics.angles import angle_deg
from bioplaus.rate.energy import (EnergyNet, energy, firing_rates, fixed_point_residual, input_drive, relax,
                                  relax_step, rho)
from bioplaus.rate.energy_spec import EnergySpec
from bioplaus.rules import (Backprop, BackpropThroughTime, Batch, ContrastiveLearning, CoupledLearning,
                            EquilibriumPropagation)
from bioplaus.tasks import squared_error


def make_batch(net: EnergyNet, n=5, seed=1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, net.spec.sizes[0]), generator=g, dtype=torch.float64)
    y = torch.rand((n, net.spec.sizes[-1]), generator=g, dtype=torch.float64)
    return Batch(x, y, squared_error)


def flat(d: dict[str, torch.Tensor]) -> np.ndarray:
    return np.concatenate([d[k].detach().reshape(-1).numpy() for k in sorted(d)])


def angle(a: dict, b: dict) -> float:
    return angle_deg([a[k] for k in sorted(a)], [b[k] for k in sorted(b)])


# -- relaxation ------------------------------------------------------------------------


def test_gradient_flow_decreases_energy_monotonically_to_a_fixed_point(make_energy_net):
    net = make_energy_net(step_size=0.1, init_scale=2.0)
    batch = make_batch(net)
    c, dyn = net.couplings(), net.dynamics()
    x = batch.x
    state, drive0 = net.zero_state(x.shape[0]), input_drive(x, c)
    energies = [energy(state, x, c, dyn)]
    with torch.no_grad():
        for _ in range(400):
            state = relax_step(state, drive0, c, dyn)
            energies.append(energy(state, x, c, dyn))
    e = torch.stack(energies)  # (steps + 1, batch)
    assert (e[1:] <= e[:-1] + 1e-12).all(), "the energy rose during a gradient-flow step"
    assert (e[0] - e[-1] > 1e-3).all()
    rel = relax(state, drive0, c, dyn, 1e-12, 5000)
    assert rel.converged and rel.change <= 1e-12
    residual = max(float(r.detach().abs().max()) for r in fixed_point_residual(rel.state, drive0, c, dyn))
    assert residual < 1e-10


@pytest.mark.parametrize("formulation", ["energy", "primitive"])
def test_dynamics_are_stationary_points_of_the_energy(formulation, make_energy_net):
    """The residual the dynamics zero is dE/ds (energy) / rho^{-1}(s) - u = dG/ds (primitive), by autograd of energy()."""
    net = make_energy_net(formulation)
    batch = make_batch(net)
    c, dyn = net.couplings(), net.dynamics()
    g = torch.Generator().manual_seed(5)
    state = [torch.rand((5, n), generator=g, dtype=torch.float64) * 0.9 + 0.05 for n in net.spec.sizes[1:]]
    state = [s.requires_grad_(True) for s in state]
    grads = torch.autograd.grad(energy(state, batch.x, c, dyn).sum(), state)
    drive0 = input_drive(batch.x, c)
    if formulation == "energy":
        expected = fixed_point_residual(state, drive0, c, dyn)
    else:  # G = sum int logit - Phi, so dG/ds = logit(s) - u, and rho(u) = s exactly where it vanishes
        res = fixed_point_residual(state, drive0, c, dyn)
        u = [torch.logit(s - r) for s, r in zip(state, res)]
        expected = [torch.logit(s) - uk for s, uk in zip(state, u)]
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b.detach(), rtol=1e-9, atol=1e-10)


# -- the reference gradient ------------------------------------------------------------


@pytest.mark.parametrize("formulation", ["energy", "primitive"])
def test_implicit_gradient_matches_finite_differences(formulation, make_energy_net):
    net = make_energy_net(formulation, sizes=(4, 5, 3))
    batch = make_batch(net, n=3)
    grad = Backprop().estimate(net, batch)
    h = 1e-6
    for name, p in net.named_parameters():
        fd = torch.zeros_like(p)
        with torch.no_grad():
            for i in range(p.numel()):
                p.view(-1)[i] += h
                up = float(batch.loss(net(batch.x)))
                p.view(-1)[i] -= 2 * h
                down = float(batch.loss(net(batch.x)))
                p.view(-1)[i] += h
                fd.view(-1)[i] = (up - down) / (2 * h)
        torch.testing.assert_close(grad[name], fd, rtol=1e-6, atol=1e-9, msg=name)


@pytest.mark.parametrize("formulation", ["energy", "primitive"])
def test_implicit_gradient_agrees_with_bptt_through_a_long_relaxation(formulation, make_energy_net):
    net = make_energy_net(formulation)
    batch = make_batch(net)
    implicit = Backprop().estimate(net, batch)
    bptt = BackpropThroughTime(steps=600).estimate(net, batch)
    short = BackpropThroughTime(steps=3).estimate(net, batch)
    err = np.linalg.norm(flat(bptt) - flat(implicit)) / np.linalg.norm(flat(implicit))
    assert err < 1e-9
    assert np.linalg.norm(flat(short) - flat(implicit)) / np.linalg.norm(flat(implicit)) > 1e-3
    truncated = BackpropThroughTime(steps=600, truncate=300).estimate(net, batch)
    assert np.linalg.norm(flat(truncated) - flat(implicit)) / np.linalg.norm(flat(implicit)) < 1e-9


# -- equilibrium propagation -----------------------------------------------------------


@pytest.mark.parametrize("formulation", ["energy", "primitive"])
def test_ep_tends_to_the_implicit_gradient_as_beta_goes_to_zero(formulation, make_energy_net):
    net = make_energy_net(formulation)
    batch = make_batch(net)
    implicit = Backprop().estimate(net, batch)
    angles = [angle(EquilibriumPropagation(beta=b).estimate(net, batch), implicit) for b in (0.5, 0.05, 1e-3)]
    assert angles[2] < 1.0
    assert angles[0] > angles[1] > angles[2]
    est = EquilibriumPropagation(beta=1e-3, nudging="centered").estimate(net, batch)
    np.testing.assert_allclose(flat(est), flat(implicit), rtol=0, atol=1e-6 * np.abs(flat(implicit)).max())


def bias_slope(net, batch, nudging) -> float:
    implicit = flat(Backprop().estimate(net, batch))
    betas = np.logspace(-3, -1, 7)
    errors = [np.linalg.norm(flat(EquilibriumPropagation(beta=b, nudging=nudging).estimate(net, batch)) - implicit)
              for b in betas]
    return float(np.polyfit(np.log(betas), np.log(errors), 1)[0])


@pytest.mark.parametrize("nudging,order", [("positive", 1.0), ("negative", 1.0), ("centered", 2.0)])
def test_ep_bias_falls_like_beta_for_one_sided_and_beta_squared_for_centered_nudging(nudging, order, make_energy_net):
    net = make_energy_net()
    batch = make_batch(net)
    assert abs(bias_slope(net, batch, nudging) - order) < 0.1


def test_positive_and_negative_nudging_average_to_centered_at_first_order(make_energy_net):
    """(g(+b) + g(-b)) / 2 cancels the O(b) term: it is the centered estimate up to O(b^2)."""
    net = make_energy_net()
    batch = make_batch(net)
    b = 0.05
    pos = flat(EquilibriumPropagation(beta=b).estimate(net, batch))
    neg = flat(EquilibriumPropagation(beta=b, nudging="negative").estimate(net, batch))
    cen = flat(EquilibriumPropagation(beta=b, nudging="centered").estimate(net, batch))
    # centered = (E(+b) - E(-b)) / 2b = ((E(+b) - E0)/b + (E0 - E(-b))/b) / 2 = (pos + neg) / 2 exactly
    np.testing.assert_allclose(cen, (pos + neg) / 2, rtol=0, atol=1e-12)


def test_random_sign_is_reproducible_and_draws_both_signs(make_energy_net):
    net = make_energy_net()
    rule = EquilibriumPropagation(beta=0.1, random_sign=True)
    rule.setup(net, torch.Generator().manual_seed(3))
    signs = [rule.signed_beta() for _ in range(40)]
    assert set(signs) == {0.1, -0.1}
    again = EquilibriumPropagation(beta=0.1, random_sign=True)
    again.setup(net, torch.Generator().manual_seed(3))
    assert [again.signed_beta() for _ in range(40)] == signs


# -- contrastive and coupled learning on a hand-computed tiny case -----------------------


def tiny_primitive_net(make_energy_net):
    """2 inputs -> 2 outputs, no hidden layer: the clamped phase has nothing to relax."""
    net = make_energy_net("primitive", sizes=(2, 2), seed=4)
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25], [-0.5, 1.5]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    return net, Batch(x, y, squared_error)


def test_contrastive_and_coupled_learning_on_a_hand_computed_case(make_energy_net):
    net, batch = tiny_primitive_net(make_energy_net)
    W = net.layers["output"].weight.detach().numpy()
    b = net.layers["output"].bias.detach().numpy()
    x, y = batch.x.numpy(), batch.y.numpy()
    o = 1 / (1 + np.exp(-(x @ W.T + b)))  # free fixed point of s = sigmoid(W x + b)
    # dE/dW = -o x^T (batch mean), so CL = -(y - o)^T x / n and db = -(y - o).mean(0)
    cl = ContrastiveLearning().estimate(net, batch)
    np.testing.assert_allclose(cl["layers.output.weight"].numpy(), -(y - o).T @ x / 3, atol=1e-12)
    np.testing.assert_allclose(cl["layers.output.bias"].numpy(), -(y - o).mean(0), atol=1e-12)
    # CpL clamps at o + eta (y - o): the contrast is eta times CL's, so every variant equals CL here
    for nudging in ("positive", "negative", "centered"):
        cpl = CoupledLearning(eta=0.3, nudging=nudging).estimate(net, batch)
        for k in cl:
            np.testing.assert_allclose(cpl[k].numpy(), cl[k].numpy(), atol=1e-12)
    # and, with no hidden layer, squared error and these dynamics, the implicit gradient is
    # dL/dW = ((o - y) o (1 - o))^T x / n: CL drops the slope o (1 - o)
    grad = Backprop().estimate(net, batch)
    np.testing.assert_allclose(grad["layers.output.weight"].numpy(), ((o - y) * o * (1 - o)).T @ x / 3, atol=1e-12)


def test_coupled_learning_with_full_clamping_is_contrastive_learning(make_energy_net):
    net = make_energy_net()
    batch = make_batch(net)
    cl, cpl = ContrastiveLearning().estimate(net, batch), CoupledLearning(eta=1.0).estimate(net, batch)
    np.testing.assert_allclose(flat(cpl), flat(cl), atol=1e-12)


def test_centered_coupled_learning_is_the_mean_of_its_one_sided_variants(make_energy_net):
    net = make_energy_net()
    batch = make_batch(net)
    est = {n: flat(CoupledLearning(eta=0.2, nudging=n).estimate(net, batch)) for n in ("positive", "negative", "centered")}
    np.testing.assert_allclose(est["centered"], (est["positive"] + est["negative"]) / 2, atol=1e-12)


# -- bad input -------------------------------------------------------------------------


def test_bad_rule_parameters_and_spec_fields_are_named(tmp_path):
    with pytest.raises(BioplausError, match="nudging.*'positive', 'negative' or 'centered'"):
        EquilibriumPropagation(nudging="both")
    with pytest.raises(BioplausError, match="eta"):
        CoupledLearning(eta=0.0)
    p = tmp_path / "bad.toml"
    p.write_text('kind = "energy"\nsizes = [4, 3]\nformulation = "langevin"\n')
    with pytest.raises(BioplausError, match=r"bad.toml: field 'formulation' is 'langevin'; allowed values are 'energy' or 'primitive'"):
        models.load(p)
    p.write_text('kind = "energy"\nsizes = [4, 3]\nstep_size = 2.0\n')
    with pytest.raises(BioplausError, match=r"bad.toml: field 'step_size'"):
        models.load(p)


# -- EP/BPTT step-by-step matching (Ernoult et al. 2019, Theorem 1) ------------------------


def test_ep_updates_match_bptt_gradients_step_by_step(make_energy_net):
    from bioplaus.rules.ep_bptt_matching import gdu_rows

    net = make_energy_net()
    batch = make_batch(net)

    def errors(beta, centered):
        return {(t, layer): v for t, m, layer, v in gdu_rows(net, batch, beta, centered, 8) if m == "gdu_rel_error"}

    tiny = errors(1e-6, False)
    # every weight, bias and layer of neurons appears once its BPTT gradient is non-zero
    assert {layer for _, layer in tiny} == {"W1", "b1", "W2", "b2", "W3", "b3", "all",
                                            "neurons:hidden1", "neurons:hidden2", "neurons:output"}
    assert max(tiny.values()) < 1e-4
    one_sided, centered = errors(1e-2, False), errors(1e-2, True)
    later = [k for k in one_sided if k[0] >= 2]
    assert all(centered[k] < 0.1 * one_sided[k] for k in later)
    assert all(one_sided[k] > 1e-4 for k in later)  # a finite beta is visibly biased


# -- runs ------------------------------------------------------------------------------


def test_run_is_reproducible_records_relaxation_steps_and_no_angle_to_an_unconverged_fixed_point():
    from bioplaus import Protocol, tasks
    from bioplaus.train import train_run

    def run(max_steps):
        spec = EnergySpec(name="tiny_energy", sizes=(64, 12, 10), max_steps=max_steps, tolerance=1e-5)
        p = Protocol(name="tiny_ep", task=tasks.OneHotSquaredError(tasks.Digits()), model=spec,
                     rules=[EquilibriumPropagation(beta=0.5)], seeds=[0], steps=3, batch_size=8, record_every=1,
                     metrics=["loss", "update_angle", "relax_steps", "test_accuracy"])
        rows = train_run(p, "equilibrium_propagation", 0).rows
        return {(m, layer) for _, _, m, layer, _ in rows}, rows

    keys, rows = run(500)
    assert run(500)[1] == rows  # the same seed gives the same numbers, bit for bit
    assert ("update_angle", "all") in keys and ("relax_steps", "free") in keys and ("relax_steps", "nudged") in keys
    steps = [v for _, _, m, layer, v in rows if m == "relax_steps" and layer == "free"]
    assert all(1 < s < 500 for s in steps)
    keys, rows = run(2)
    assert not any(m == "update_angle" for m, _ in keys)
    assert all(v == 2 for _, _, m, layer, v in rows if m == "relax_steps" and layer == "free")


@pytest.mark.parametrize("formulation,activation", [("energy", "sigmoid"), ("primitive", "sigmoid"),
                                                    ("energy", "hard_sigmoid"), ("primitive", "hard_sigmoid")])
def test_closed_form_residual_jacobian_equals_autograd(formulation, activation):
    from bioplaus.rate.energy import residual_jacobian

    spec = EnergySpec(name="t", sizes=(5, 6, 4, 3), formulation=formulation, activation=activation, dtype="float64")
    net = models.build(spec, torch.Generator().manual_seed(2))
    c, dyn = net.couplings(), net.dynamics()
    g = torch.Generator().manual_seed(6)
    x = torch.randn((3, 5), generator=g, dtype=torch.float64)
    state = [torch.rand((3, n), generator=g, dtype=torch.float64) * 1.2 - 0.1 for n in (6, 4, 3)]
    drive0 = input_drive(x, c)
    jac = residual_jacobian(state, drive0, c, dyn)
    for b in range(3):
        def f(z, b=b):
            parts = list(z.unsqueeze(0).split((6, 4, 3), 1))
            return torch.cat(fixed_point_residual(parts, drive0[b:b + 1], c, dyn), 1)[0]
        expected = torch.autograd.functional.jacobian(f, torch.cat([s[b] for s in state]))
        torch.testing.assert_close(jac[b], expected, rtol=1e-12, atol=1e-12)


def test_alternating_schedule_reaches_the_same_fixed_point_and_bptt_through_it_is_the_implicit_gradient(make_energy_net):
    import dataclasses

    sync = make_energy_net()
    alt = models.build(dataclasses.replace(sync.spec, schedule="alternating"), torch.Generator().manual_seed(0))
    batch = make_batch(sync)
    s1, s2 = sync.free_phase(batch.x), alt.free_phase(batch.x)
    assert s2.steps < s1.steps  # block coordinate descent needs fewer sweeps here
    for a, b in zip(s1.state, s2.state):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    implicit = flat(Backprop().estimate(alt, batch))
    bptt = flat(BackpropThroughTime(steps=400).estimate(alt, batch))
    assert np.linalg.norm(bptt - implicit) / np.linalg.norm(implicit) < 1e-9


# -- digits by default, MNIST with --data-dir ------------------------------------------------


def write_small_mnist(folder, n_train=40, n_test=20):
    from bioplaus.tasks import write_idx
    from bioplaus.tasks.mnist import FILES

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        write_idx(folder / FILES[f"{split}_images"], rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        write_idx(folder / FILES[f"{split}_labels"], rng.integers(0, 10, size=n, dtype=np.uint8))
    return folder


@pytest.mark.parametrize("script,sizes", [("scellier2017_digits", (784, 500, 10)), ("scellier2017_digits_2h", (784, 500, 500, 10)),
                                          ("scellier2023_comparative", (784, 500, 10))])
def test_scellier_protocols_choose_mnist_and_the_papers_network_with_a_data_dir(script, sizes):
    from pathlib import Path

    from bioplaus.protocol import load_protocol

    protocol = load_protocol(Path(__file__).parent.parent / "protocols" / f"{script}.py")
    default, mnist = protocol.for_data_dir(None), protocol.for_data_dir("some/folder")
    assert (default.task.name, default.model.sizes[0]) == ("mnist1d", 40)
    assert (mnist.task.name, tuple(mnist.model.sizes)) == ("mnist", sizes)
    assert mnist.for_data_dir("some/folder") is mnist  # resolving twice changes nothing
    config = mnist.run_config(mnist.jobs()[0][0], 0)
    assert config["task"]["task"] == "mnist" and config["model"]["sizes"][0] == 784


def test_a_run_with_data_dir_trains_on_mnist_and_is_stored_apart_from_the_digits_run(tmp_path):
    import dataclasses
    import importlib.util
    import json
    from pathlib import Path

    from bioplaus.execute import run_protocol
    from bioplaus.protocol import load_protocol
    from bioplaus.store import Store
    from bioplaus.train import train_run

    folder = write_small_mnist(tmp_path / "mnist")
    protocol = load_protocol(Path(__file__).parent.parent / "protocols" / "scellier2017_digits.py")
    protocol = dataclasses.replace(protocol, rules=[EquilibriumPropagation(beta=0.5, nudging="centered", label="ep_centered")],
                                   seeds=[0], steps=2, record_every=1)
    with Store(tmp_path / "digits.db") as store:
        assert run_protocol(protocol, store, progress=False).done == 1
        (run,) = store.runs(protocol.name).itertuples()
        assert store.arrays(run.id)["final/layers.hidden1.weight"].shape == (256, 40)
    with Store(tmp_path / "mnist.db") as store:
        assert run_protocol(protocol, store, data_dir=str(folder), progress=False).done == 1
        (run,) = store.runs(protocol.name).itertuples()
        config = json.loads(run.config)
        assert config["task"]["task"] == "mnist" and config["model"]["sizes"] == [784, 500, 10]
        assert store.arrays(run.id)["final/layers.hidden1.weight"].shape == (500, 784)
        accuracy = store.metrics(protocol=protocol.name, metric="test_accuracy").value
        assert len(accuracy) == 3 and ((accuracy * 20) % 1 == 0).all()  # accuracy over the 20 test images written above
        spec = importlib.util.spec_from_file_location("scellier_figure", Path(__file__).parent.parent / "figures" / "scellier2017_digits.py")
        figure = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(figure)
        assert figure.data_and_network(store, protocol.name) == "MNIST, 784-500-10 hard sigmoid"
        assert figure.make(store).axes[0].get_title() == "MNIST, 784-500-10 hard sigmoid"
    with Store(tmp_path / "digits.db") as store, pytest.raises(BioplausError, match="different configuration"):
        run_protocol(protocol, store, data_dir=str(folder), progress=False)
    # train_run, as a worker calls it, resolves the task and model itself
    assert train_run(protocol.for_data_dir(str(folder)), "ep_centered", 0).arrays["final/layers.hidden1.weight"].shape == (500, 784)


def test_by_data_dir_names_the_model_field_and_size_that_do_not_fit(tmp_path):
    from bioplaus import tasks

    from bioplaus import Protocol, rules

    choice = tasks.ByDataDir(default=tasks.OneHotSquaredError(tasks.Digits()), with_data_dir=tasks.OneHotSquaredError(tasks.MNIST()),
                             model_with_data_dir="ep_digits_1h")
    with pytest.raises(BioplausError, match=r"model_with_data_dir.*ep_digits_1h.*'sizes' = \[64, 256, 10\].*sizes\[0\] must be 784"):
        Protocol(name="x", task=choice, model="ep_digits_1h", rules=[rules.EquilibriumPropagation()])
    with pytest.raises(BioplausError, match="'with_data_dir' must be a task"):
        tasks.ByDataDir(default=tasks.Digits(), with_data_dir="mnist")
    choice = tasks.ByDataDir(default=tasks.Digits(), with_data_dir=tasks.MNIST())
    choice.check(None)  # the digits need no files
    with pytest.raises(BioplausError, match="not found"):
        choice.check(str(tmp_path))  # with a folder, MNIST's files must be in it


def test_relaxation_runs_on_one_thread_restores_the_count_and_gives_the_same_states_at_any_count(make_energy_net):
    net = make_energy_net(sizes=(30, 40, 5), tolerance=0.0, max_steps=25)
    batch = make_batch(net, n=7)
    before = torch.get_num_threads()
    try:
        states = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            net._free_cache = None
            rel = net.free_phase(batch.x)
            assert torch.get_num_threads() == threads
            states.append(torch.cat(rel.state, 1))
    finally:
        torch.set_num_threads(before)
    assert rel.steps == 25 and torch.equal(states[0], states[1])
