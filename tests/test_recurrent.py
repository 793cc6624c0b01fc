"""Recurrent networks and temporal credit assignment, tested against mathematics.

Exact identities (RTRL = BPTT, truncated BPTT with k >= T = BPTT, e-prop = BPTT without
recurrent weights, synthetic gradients with a zero predictor = truncated BPTT), independent
re-computations (numpy dynamics, autograd Jacobians, influence reset at window starts) and
the unbiasedness of the stochastic estimators (mean of m estimates -> RTRL's gradient).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bioplaus import Protocol, models
from bioplaus.errors import BioplausError
from bioplaus.metrics import angle_deg, estimator_curve
from bioplaus.rate.recurrent import RecurrentNet, RecurrentSpec, rnn_step, run_rnn
from bioplaus.rules.influence import influence_buffers, influence_credit_step, influence_step, jacobian_product
from bioplaus import Condition
from bioplaus.rules import BPTT, KFRTRL, RFLO, RTRL, UORO, EProp, ReinforceRTRL, SyntheticGradients, TruncatedBPTT
from bioplaus.core import Batch
from bioplaus.rules.online import sequence_pass
from bioplaus.tasks.sequence import AddingProblem, CopyMemory, DelayedRecall, sequence_squared_error
from bioplaus.train import apply_estimate, train_run


def tiny(n=5, m=3, n_out=2, alpha=0.6, activation="tanh", seed=0, gain=1.2):
    spec = RecurrentSpec(name="tiny", n_in=m, n_hidden=n, n_out=n_out, alpha=alpha, activation=activation, recurrent_gain=gain)
    return RecurrentNet(spec, torch.Generator().manual_seed(seed))


def sequences(net, batch=3, steps=7, seed=1, scored_every=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((batch, steps, net.spec.n_in), generator=g, dtype=torch.float64)
    y = torch.randn((batch, steps, net.spec.n_out), generator=g, dtype=torch.float64)
    y[:, torch.arange(steps) % scored_every != scored_every - 1] = float("nan")
    return Batch(x, y, sequence_squared_error)


def rel_err(a, b):
    return float((a - b).norm() / b.norm())


def setup(rule, net, seed=0):
    rule.setup(net, torch.Generator().manual_seed(seed))
    return rule


# -- the dynamics ---------------------------------------------------------------------------
def test_rnn_step_matches_numpy():
    net = tiny()
    g = torch.Generator().manual_seed(3)
    h, x = torch.randn((4, 5), generator=g, dtype=torch.float64), torch.randn((4, 3), generator=g, dtype=torch.float64)
    w = net.w.detach().numpy()
    expected = 0.4 * h.numpy() + 0.6 * np.tanh(h.numpy() @ w[:, :5].T + x.numpy() @ w[:, 5:8].T + w[:, 8])
    got, _ = rnn_step(h, x, net.w.detach(), 0.6, "tanh")
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-13, atol=1e-14)


def test_jacobian_product_and_influence_step_match_autograd():
    net = tiny()
    g = torch.Generator().manual_seed(4)
    h, x = torch.randn((2, 5), generator=g, dtype=torch.float64), torch.randn((2, 3), generator=g, dtype=torch.float64)
    w = net.w.detach()
    _, a = rnn_step(h, x, w, 0.6, "tanh")
    slope = 0.6 * (1 - torch.tanh(a) ** 2)
    v = torch.randn((2, 5), generator=g, dtype=torch.float64)
    for b in range(2):
        d = torch.autograd.functional.jacobian(lambda hh: rnn_step(hh[None], x[b : b + 1], w, 0.6, "tanh")[0][0], h[b])
        torch.testing.assert_close(jacobian_product(v, slope, w[:, :5], 0.6)[b], d @ v[b], rtol=1e-12, atol=1e-13)
        # one step from zero influence: M_1 = dh_1/dW by autograd
        mw = torch.autograd.functional.jacobian(lambda ww: rnn_step(h[b : b + 1], x[b : b + 1], ww, 0.6, "tanh")[0][0], w)
        z = torch.cat([h[b], x[b], torch.ones(1, dtype=torch.float64)])
        m1 = influence_step(torch.zeros((1, 5, 5, 9), dtype=torch.float64), slope[b : b + 1], z[None], w[:, :5], 0.6)
        torch.testing.assert_close(m1[0], mw, rtol=1e-12, atol=1e-13)


# -- exact identities -------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_fused_influence_step_matches_the_plain_formula(alpha):
    net = tiny(alpha=alpha)
    batch = sequences(net, batch=2, steps=4)
    sp = sequence_pass(net, batch)
    traj, c, w_rec = sp.trajectory, sp.credit, net.w_rec.detach()
    m = torch.zeros((2, 5, 5, 9), dtype=torch.float64)
    expected = torch.zeros((2, 5, 9), dtype=torch.float64)
    m_prev, m_next, transition = influence_buffers(2, 5, 9, c)
    grad = torch.zeros((2, 5, 9), dtype=torch.float64)
    for t in range(4):
        m = influence_step(m, traj.slope[:, t], traj.z[:, t], w_rec, alpha)
        expected += torch.einsum("bk,bkij->bij", c[:, t], m)
        influence_credit_step(m_prev, m_next, transition, traj.slope[:, t], traj.z[:, t], c[:, t], w_rec, alpha, grad)
        m_prev, m_next = m_next, m_prev
        torch.testing.assert_close(m_prev[:, :5].reshape(m.shape), m, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(grad, expected, rtol=1e-12, atol=1e-14)
    assert expected.abs().max() > 1e-3


@pytest.mark.parametrize("activation,alpha", [("tanh", 0.6), ("tanh", 1.0), ("sigmoid", 0.3)])
def test_rtrl_equals_bptt(activation, alpha):
    net = tiny(activation=activation, alpha=alpha)
    batch = sequences(net, scored_every=2)
    exact = BPTT().estimate(net, batch)
    rtrl = setup(RTRL(), net).estimate(net, batch)
    for k in exact:
        assert rel_err(rtrl[k], exact[k]) < 1e-10, k


def test_truncated_bptt_with_k_at_least_T_is_bptt_and_otherwise_resets_the_influence():
    net = tiny()
    batch = sequences(net, steps=7)
    exact = BPTT().estimate(net, batch)
    for k in (7, 50):
        est = TruncatedBPTT(k=k).estimate(net, batch)
        assert all(rel_err(est[p], exact[p]) < 1e-12 for p in exact)
    # independent: RTRL whose influence is reset to zero at h_0, h_3, h_6 (windows of 3)
    sp = sequence_pass(net, batch)
    traj, c, w_rec = sp.trajectory, sp.credit, net.w_rec.detach()
    m = torch.zeros((3, 5, 5, 9), dtype=torch.float64)
    grad = torch.zeros((3, 5, 9), dtype=torch.float64)
    for t in range(7):
        if t % 3 == 0:
            m = torch.zeros_like(m)
        m = influence_step(m, traj.slope[:, t], traj.z[:, t], w_rec, 0.6)
        grad += torch.einsum("bk,bkij->bij", c[:, t], m)
    est = TruncatedBPTT(k=3).estimate(net, batch)["recurrent.weight"]
    assert rel_err(est, grad.sum(0)) < 1e-12
    assert angle_deg(est, exact["recurrent.weight"]) > 1.0  # truncation changes the gradient here


def test_eprop_and_rflo_equal_bptt_without_recurrent_weights():
    net = tiny(gain=0.0)
    batch = sequences(net)
    exact = BPTT().estimate(net, batch)
    assert exact["recurrent.weight"][:, :5].abs().max() > 1e-3  # the W_rec gradient itself is not zero
    for rule in (EProp(), RFLO(feedback="symmetric")):
        est = setup(rule, net).estimate(net, batch)
        for k in exact:
            assert rel_err(est[k], exact[k]) < 1e-12, (rule.name, k)
    # with recurrent weights, the dropped paths matter
    net = tiny(gain=1.5)
    batch = sequences(net)
    exact = BPTT().estimate(net, batch)["recurrent.weight"]
    assert angle_deg(setup(EProp(), net).estimate(net, batch)["recurrent.weight"], exact) > 1.0


def test_eprop_matches_the_plain_recursion_over_a_long_sequence():
    # alpha = 1: the trace decays by alpha phi' W_rec,ii per step (a stored trace with folded row scales would fold here)
    net = tiny(alpha=1.0, gain=1.0)
    batch = sequences(net, batch=2, steps=90)
    sp = sequence_pass(net, batch)
    traj, c = sp.trajectory, sp.credit
    diag = net.w_rec.detach().diagonal()
    trace = torch.zeros((2, 5, 9), dtype=torch.float64)
    expected = torch.zeros_like(trace)
    min_scale = torch.ones((2, 5), dtype=torch.float64)
    for t in range(90):
        decay = traj.slope[:, t] * diag
        trace = decay[:, :, None] * trace + traj.slope[:, t, :, None] * traj.z[:, t, None, :]
        expected += c[:, t, :, None] * trace
        min_scale = min_scale * decay.abs()
    assert float(min_scale.min()) < 1e-60  # several folds happened
    got = setup(EProp(), net).sequence_estimates(net, batch)[0]
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-14)


def test_eprop_random_feedback_uses_the_fixed_matrix():
    net = tiny(gain=0.0)
    batch = sequences(net)
    rule = setup(EProp(feedback="random"), net)
    est = rule.estimate(net, batch)["recurrent.weight"]
    # autograd of sum_t <e_t B^T, h_t>, with the true output errors e_t held fixed
    states = net.states(batch.x)
    out = net.readout(states)
    (err,) = torch.autograd.grad(batch.loss(out), out, retain_graph=True)
    (expected,) = torch.autograd.grad((err @ rule.b.t() * states).sum(), net.w)
    assert rel_err(est, expected) < 1e-12
    assert angle_deg(est, BPTT().estimate(net, batch)["recurrent.weight"]) > 1.0


def test_synthetic_gradients_with_zero_predictor_is_truncated_bptt():
    net = tiny()
    batch = sequences(net, steps=9)
    rule = setup(SyntheticGradients(k=3), net)
    assert float(rule.theta.abs().max()) == 0.0
    est, trunc = rule.estimate(net, batch), TruncatedBPTT(k=3).estimate(net, batch)
    for k in est:
        assert rel_err(est[k], trunc[k]) < 1e-12
    # a non-zero predictor adds sum_boundaries S(h_end) . dh_end/dW (1/B per sequence)
    rule.theta = torch.randn(rule.theta.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    est = rule.estimate(net, batch)["recurrent.weight"]
    states = net.states(batch.x, detach_every=3)
    extra = sum((rule.predict(states[:, e].detach()) * states[:, e]).sum() / 3 for e in (2, 5))
    (g_extra,) = torch.autograd.grad(extra, net.w)
    assert rel_err(est, trunc["recurrent.weight"] + g_extra) < 1e-12


def test_synthetic_gradient_target_without_bootstrap_is_the_true_future_gradient():
    net = tiny()
    batch = sequences(net, steps=6)
    rule = setup(SyntheticGradients(k=3, bootstrap=0.0), net)
    h, delta = rule.predictor_targets(net, batch)
    h3 = net.states(batch.x)[:, 2].detach().requires_grad_(True)

    def future_loss(h):  # the loss of steps 4..6 as a function of h_3
        outs = []
        for t in range(3, 6):
            h, _ = rnn_step(h, batch.x[:, t], net.w, net.alpha, net.activation)
            outs.append(net.readout(h))
        return sequence_squared_error(torch.stack(outs, 1), batch.y[:, 3:])

    (g,) = torch.autograd.grad(future_loss(h3), h3)
    torch.testing.assert_close(h, h3.detach(), rtol=0, atol=0)
    torch.testing.assert_close(delta, g * 3, rtol=1e-12, atol=1e-14)
    # one predictor step reduces its regression loss on these targets
    before = float((rule.predict(h) - delta).square().sum())
    rule.after_step(net, batch, {})
    assert float((rule.predict(h) - delta).square().sum()) < before


# -- unbiased stochastic estimators ------------------------------------------------------------
def one_sequence_copies(m, n=8, seed=1):
    task = DelayedRecall(delay=4)
    spec = RecurrentSpec(name="t8", n_in=task.n_in, n_hidden=n, n_out=task.n_out, alpha=0.7)
    net = RecurrentNet(spec, torch.Generator().manual_seed(seed))
    x, y = task.sample(torch.Generator().manual_seed(seed), 1)
    y = torch.where(torch.isnan(y), y, torch.full_like(y, -1.0))
    one = Batch(x, y, sequence_squared_error)
    return net, one, Batch(x.expand(m, -1, -1), y.expand(m, -1, -1), sequence_squared_error)


@pytest.mark.parametrize("rule_cls", [UORO, KFRTRL])
def test_uoro_and_kf_rtrl_are_unbiased(rule_cls):
    m = 10_000
    net, one, copies = one_sequence_copies(m)
    exact = setup(RTRL(), net).estimate(net, one)["recurrent.weight"]
    per, _ = setup(rule_cls(), net).sequence_estimates(net, copies)
    rows = dict(((mm, metric), v) for mm, metric, v in estimator_curve(per * m, exact, [10, 100, 1000, 10_000]))
    angles = [rows[(mm, "estimate_bias_angle")] for mm in (10, 100, 1000, 10_000)]
    assert all(a > b for a, b in zip(angles, angles[1:])), angles
    assert angles[-1] < 5.0
    # a single estimate is far from the gradient: the test is not trivially satisfied
    assert angles[0] > 5.0


def test_kf_rtrl_variance_below_uoro():
    m = 2000
    net, one, copies = one_sequence_copies(m)
    exact = setup(RTRL(), net).estimate(net, one)["recurrent.weight"]
    var = {}
    for cls in (UORO, KFRTRL):
        per, _ = setup(cls(), net).sequence_estimates(net, copies)
        var[cls.name] = estimator_curve(per * m, exact, [m])[-1][2]
    assert var["kf_rtrl"] < var["uoro"]


def test_reinforce_rtrl_is_unbiased_for_the_smoothed_loss_and_its_bias_shrinks_with_sigma():
    m = 10_000
    net, one, copies = one_sequence_copies(m)
    exact = setup(RTRL(), net).estimate(net, one)["recurrent.weight"]
    to_exact, smoothing_gap = {}, {}
    for sigma in (0.03, 0.3):
        rule = setup(ReinforceRTRL(sigma=sigma), net)
        mean = rule.sequence_estimates(net, copies)[0].sum(0)
        # the gradient of the noise-smoothed loss, pathwise: RTRL along noisy trajectories (other noise)
        noise = rule.state_noise(net, copies)
        smoothed = RTRL().recurrent_estimates(net, copies, sequence_pass(net, copies, noise)).sum(0)
        to_exact[sigma] = angle_deg(mean, exact)
        smoothing_gap[sigma] = angle_deg(smoothed, exact)
        assert angle_deg(mean, smoothed) < 5.0
    assert smoothing_gap[0.03] < smoothing_gap[0.3]
    assert to_exact[0.03] < 4.0 < to_exact[0.3]


# -- tasks, specs, runs ------------------------------------------------------------------------
def test_tasks_targets_follow_their_definitions():
    g = torch.Generator().manual_seed(0)
    x, y = DelayedRecall(delay=3, n_values=2, report=2).sample(g, 4)
    assert x.shape == (4, 6, 3) and torch.isnan(y[:, :4]).all()
    torch.testing.assert_close(y[:, 4], x[:, 0, :2])
    torch.testing.assert_close(y[:, 5], x[:, 0, :2])
    assert (x[:, 4, 2] == 1).all() and x[:, 1:4].abs().sum() == 0
    x, y = AddingProblem(length=10).sample(g, 5)
    marked = (x[..., 0] * x[..., 1]).sum(1)
    torch.testing.assert_close(y[:, -1, 0], marked)
    assert (x[..., 1].sum(1) == 2).all() and torch.isnan(y[:, :-1]).all()
    x, y = CopyMemory(length=3, delay=2, n_symbols=4).sample(g, 6)
    torch.testing.assert_close(y[:, 6:], x[:, :3, :4])
    assert (x[:, 5, 4] == 1).all()


def test_sequence_loss_is_a_sum_of_per_step_terms():
    out = torch.tensor([[[1.0], [2.0], [3.0]]])
    y = torch.tensor([[[float("nan")], [0.0], [1.0]]])
    assert float(sequence_squared_error(out, y)) == pytest.approx(0.5 * 4 + 0.5 * 4)
    assert sequence_squared_error.per_step(out, y).tolist() == [[0.0, 2.0, 2.0]]


def test_recurrent_spec_errors_name_file_field_and_allowed_values(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('kind = "recurrent"\nn_in = 2\nn_hidden = 4\nn_out = 1\ncell = "gru"\n')
    with pytest.raises(BioplausError, match=r"bad.toml: field 'cell' is 'gru'; allowed values are 'vanilla'"):
        models.load(str(p))
    p.write_text('kind = "recurrent"\nn_in = 2\nn_hidden = 4\nn_out = 1\nalpha = 1.5\n')
    with pytest.raises(BioplausError, match=r"field 'alpha' must be in \(0, 1\]"):
        models.load(str(p))
    p.write_text('kind = "recurrent"\nn_in = 2\nn_out = 1\n')
    with pytest.raises(BioplausError, match="required field 'n_hidden'"):
        models.load(str(p))
    spec = models.load("rnn32_delayed_recall")
    assert spec.kind == "recurrent" and spec.n_hidden == 32
    with pytest.raises(BioplausError, match="has n_in=2, n_out=1 but task 'copy_memory' has n_in=5, n_out=4"):
        Protocol(name="x", task=CopyMemory(), model=spec, rules=[BPTT()])
    from bioplaus.tasks import LinearTeacher

    with pytest.raises(BioplausError, match="needs a sequence task"):
        Protocol(name="x", task=LinearTeacher(n_in=2, n_out=1), model=spec, rules=[BPTT()])


def _protocol(rules, steps, metrics, batch_size=8):
    task = DelayedRecall(delay=3, n_test=16)
    spec = RecurrentSpec(name="r", n_in=task.n_in, n_hidden=6, n_out=task.n_out, alpha=0.5)
    return Protocol(name="rnn_test", task=task, model=spec, rules=rules, seeds=[0], steps=steps, batch_size=batch_size,
                    optimizer=("sgd", {"lr": 0.05}), record_every=2, metrics=metrics)


def test_training_run_records_angles_to_bptt_and_is_reproducible():
    p = _protocol([RTRL(), RFLO()], steps=4, metrics=["loss", "test_loss", "update_angle", "update_norm_ratio"])
    rows = train_run(p, "rtrl", 0).rows
    angles = [v for _, _, metric, layer, v in rows if metric == "update_angle" and layer == "all"]
    ratios = [v for _, _, metric, layer, v in rows if metric == "update_norm_ratio" and layer == "all"]
    assert len(angles) == 3 and max(angles) < 1e-5 and all(abs(r - 1) < 1e-10 for r in ratios)
    r1, r2 = train_run(p, "rflo", 0), train_run(p, "rflo", 0)
    assert r1.rows == r2.rows
    assert max(v for _, _, m, layer, v in r1.rows if m == "update_angle" and layer == "recurrent") > 1.0
    assert not np.array_equal(r1.arrays["final/recurrent.weight"], r1.arrays["initial/recurrent.weight"])


def test_online_updates_with_a_whole_sequence_window_are_the_batch_updates():
    length = DelayedRecall(delay=3).sequence_length()
    metrics = ["loss", "test_loss", "update_angle", "update_norm_ratio"]
    for make in (UORO, RFLO):
        p = _protocol([make(), make(label="online", update_every=length)], steps=4, metrics=metrics)
        batchwise, online = train_run(p, make.name, 0), train_run(p, "online", 0)
        np.testing.assert_allclose(online.arrays["final/recurrent.weight"], batchwise.arrays["final/recurrent.weight"], rtol=1e-12, atol=1e-14)
        assert sorted(r[:4] for r in online.rows) == sorted(r[:4] for r in batchwise.rows)
        for a, b in zip(sorted(online.rows), sorted(batchwise.rows)):
            assert abs(a[4] - b[4]) <= 1e-9 * max(1.0, abs(b[4])), (a, b)


def test_rtrl_with_updates_every_step_is_exact_through_the_parameter_history():
    net = tiny()
    batch = sequences(net, steps=7)
    full = BPTT().estimate(net, batch)["recurrent.weight"]
    for lr in (1e-9, 0.2):
        model = tiny()
        rule = setup(RTRL(update_every=1), model)
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        history, total = [], torch.zeros_like(full)
        for t, (estimate, window) in enumerate(rule.online_updates(model, batch, 1)):
            history.append((t, model.w.detach().clone()))
            exact = model.history_gradient(batch, history, 1)
            for k in exact:
                assert rel_err(estimate[k], exact[k]) < 1e-10, (lr, t, k)
            total += estimate["recurrent.weight"]
            apply_estimate(model, estimate, opt)
        assert len(history) == 7
        # tiny steps: the windows' estimates add up to BPTT's gradient; real steps: the parameter history matters
        assert (rel_err(total, full) < 1e-6) == (lr < 1e-6)
    p = _protocol([RTRL(update_every=2), RFLO(update_every=2)], steps=4, metrics=["update_angle"])
    angles = {name: [r[4] for r in train_run(p, name, 0).rows if r[3] == "recurrent"] for name in ("rtrl", "rflo")}
    assert len(angles["rtrl"]) == 3 and max(angles["rtrl"]) < 1e-5 and min(angles["rflo"]) > 1.0


def test_update_every_is_validated():
    with pytest.raises(BioplausError, match="update_every"):
        UORO(update_every=0)
    assert RTRL(update_every=3).config()["update_every"] == 3 and "update_every" not in RTRL().config()


def test_estimator_run_stores_curves_against_m():
    p = _protocol([Condition(UORO(), model={"n_hidden": 4}, label="uoro n=4")], steps=0, metrics=["estimate_bias_angle", "estimate_variance"], batch_size=50)
    rows = train_run(p, "uoro n=4", 0).rows
    steps = sorted({r[0] for r in rows if r[2] == "estimate_bias_angle"})
    assert steps == [1, 2, 5, 10, 20, 50]
    assert {r[0] for r in rows if r[2] == "estimate_variance"} == {2, 5, 10, 20, 50}
    assert all(r[3] == "recurrent" and math.isfinite(r[4]) for r in rows)


@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_summed_estimate_is_the_sum_of_the_per_sequence_estimates(alpha):
    # the batch-summed accumulation (one matrix-vector product per step) against the per-sequence one
    net = tiny(alpha=alpha, gain=1.3)
    batch = sequences(net, batch=4, steps=9)
    for make in (UORO, KFRTRL, EProp, RFLO, ReinforceRTRL, RTRL, lambda: EProp(feedback="random")):
        per, _ = setup(make(), net).sequence_estimates(net, batch)
        total = setup(make(), net).estimate(net, batch)["recurrent.weight"]
        assert total.abs().max() > 1e-4
        torch.testing.assert_close(total, per.sum(0), rtol=1e-12, atol=1e-14)


def test_estimates_have_no_side_effects_and_deterministic_rules_repeat():
    net = tiny()
    batch = sequences(net)
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    for rule in (BPTT(), TruncatedBPTT(k=3), RTRL(), EProp(), RFLO(), SyntheticGradients(k=3)):
        setup(rule, net)
        a, b = rule.estimate(net, batch), rule.estimate(net, batch)
        assert set(a) == set(before) and all(torch.equal(a[k], b[k]) for k in a), rule.name
        assert all(a[k].shape == before[k].shape for k in a)
    for rule in (UORO(), KFRTRL(), ReinforceRTRL()):  # fresh noise each call, same seed same noise
        r1, r2 = setup(rule, net, seed=5), setup(type(rule)(), net, seed=5)
        e1, e2 = r1.estimate(net, batch), r2.estimate(net, batch)
        assert all(torch.equal(e1[k], e2[k]) for k in e1)
        assert not torch.equal(r1.estimate(net, batch)["recurrent.weight"], e1["recurrent.weight"])
    assert all(torch.equal(before[k], v) for k, v in net.named_parameters())


def test_norm_ratios_match_numpy():
    from bioplaus.metrics.probes import norm_ratios
    from bioplaus.train import ms_up_to

    g = torch.Generator().manual_seed(0)
    est = {k: torch.randn(s, generator=g) for k, s in (("a", (3, 4)), ("b", (5,)))}
    ref = {k: torch.randn(v.shape, generator=g) for k, v in est.items()}
    out = norm_ratios(est, ref, {"g1": ["a"], "g2": ["b"]})
    n = lambda d, ks: np.sqrt(sum((d[k].numpy().astype(np.float64) ** 2).sum() for k in ks))  # noqa: E731
    assert out["g1"] == pytest.approx(n(est, ["a"]) / n(ref, ["a"]), rel=1e-12)
    assert out["all"] == pytest.approx(n(est, ["a", "b"]) / n(ref, ["a", "b"]), rel=1e-12)
    assert ms_up_to(1000) == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] and ms_up_to(30) == [1, 2, 5, 10, 20, 30]


# -- LSTM and sparse attentive backtracking ----------------------------------------------------
def lstm(k_att=3, k_top=1, n=4, m=3, seed=0):
    spec = RecurrentSpec(name="lstm", n_in=m, n_hidden=n, n_out=2, cell="lstm", k_att=k_att, k_top=k_top)
    return RecurrentNet(spec, torch.Generator().manual_seed(seed))


def test_lstm_step_and_sparse_attention_match_numpy():
    from bioplaus.rate.lstm import lstm_step, sparse_attention

    net = lstm()
    g = torch.Generator().manual_seed(1)
    h, c, x = (torch.randn(s, generator=g, dtype=torch.float64) for s in ((2, 4), (2, 4), (2, 3)))
    w = net.w.detach().numpy()
    gates = np.concatenate([h.numpy(), x.numpy(), np.ones((2, 1))], 1) @ w.T
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    i, f, gg, o = np.split(gates, 4, axis=1)
    c_np = sig(f) * c.numpy() + sig(i) * np.tanh(gg)
    h_new, c_new = lstm_step(h, c, x, net.w.detach())
    np.testing.assert_allclose(c_new.numpy(), c_np, rtol=1e-13)
    np.testing.assert_allclose(h_new.numpy(), sig(o) * np.tanh(c_np), rtol=1e-13)
    mem = torch.randn((2, 5, 4), generator=g, dtype=torch.float64)
    scores = np.einsum("bn,bjn->bj", h.numpy(), mem.numpy()) / 2.0
    expected = np.zeros((2, 4))
    for b in range(2):
        top = np.argsort(scores[b])[-2:]
        a = np.exp(scores[b, top] - scores[b, top].max())
        expected[b] = (a / a.sum()) @ mem.numpy()[b, top]
    np.testing.assert_allclose(sparse_attention(h, mem, 2).numpy(), expected, rtol=1e-12)


def test_sab_with_long_truncation_is_bptt_and_backtracks_only_through_memories():
    from bioplaus.rules import SparseAttentiveBacktracking

    net = lstm()
    batch = sequences(net, steps=12, scored_every=12)  # only the last step is scored
    exact = BPTT().estimate(net, batch)
    sab = setup(SparseAttentiveBacktracking(k_trunc=12), net).estimate(net, batch)
    assert all(rel_err(sab[k], exact[k]) < 1e-12 for k in exact)

    def credit_to_first_input(model, k_trunc):
        x = batch.x.clone().requires_grad_(True)
        loss = batch.loss(model.readout(model.states(x, detach_every=k_trunc)))
        return float(torch.autograd.grad(loss, x)[0][:, 0].abs().max())

    # windows of 3: the loss at t = 11 reaches x_0 only through the memory written at t = 2
    assert credit_to_first_input(net, 3) > 1e-6
    plain = lstm(k_att=0, k_top=0)
    assert credit_to_first_input(plain, 3) == 0.0
    sab3 = setup(SparseAttentiveBacktracking(k_trunc=3), net).estimate(net, batch)
    trunc3 = TruncatedBPTT(k=3).estimate(net, batch)
    assert all(torch.equal(sab3[k], trunc3[k]) for k in sab3)  # SAB is truncation of the attentive model
    assert angle_deg(sab3["recurrent.weight"], exact["recurrent.weight"]) > 0.1


def test_online_rules_refuse_an_lstm_and_sab_needs_memory():
    from bioplaus.rules import SparseAttentiveBacktracking

    for rule in (RTRL(), UORO(), EProp(), SyntheticGradients()):
        with pytest.raises(BioplausError, match=f"rule '{rule.name}' cannot run on model 'r' .*'recurrent:influence'"):
            _protocol([Condition(rule, model={"cell": "lstm"})], steps=1, metrics=["loss"])
    with pytest.raises(BioplausError, match="'recurrent:sparse_attention' \\(an LSTM with a sparse attentive memory"):
        _protocol([SparseAttentiveBacktracking()], steps=1, metrics=["loss"])


def test_lstm_spec_validation(tmp_path):
    p = tmp_path / "m.toml"
    p.write_text('kind = "recurrent"\nn_in = 2\nn_hidden = 4\nn_out = 1\nk_att = 3\nk_top = 1\n')
    with pytest.raises(BioplausError, match="m.toml: field 'k_att' is 3 but the sparse attentive memory needs cell = 'lstm'"):
        models.load(str(p))
    p.write_text('kind = "recurrent"\ncell = "lstm"\nn_in = 2\nn_hidden = 4\nn_out = 1\nk_att = 3\n')
    with pytest.raises(BioplausError, match="field 'k_top' and 'k_att' must both be positive"):
        models.load(str(p))
    p.write_text('kind = "recurrent"\ncell = "lstm"\nn_in = 2\nn_hidden = 4\nn_out = 1\nk_att = 3\nk_top = 2\n')
    assert models.load(str(p)).k_top == 2


def test_condition_overrides_change_only_their_condition():
    from bioplaus.rules import SparseAttentiveBacktracking

    sab = Condition(SparseAttentiveBacktracking(k_trunc=2), model={"cell": "lstm", "k_att": 2, "k_top": 1}, task={"delay": 2}, label="sab")
    p = _protocol([BPTT(), sab], steps=2, metrics=["loss", "update_angle"])
    c = p.condition("sab")
    assert (c.model.cell, c.model.k_att, c.task.delay, p.model.cell, p.task.delay) == ("lstm", 2, 2, "vanilla", 3)
    assert p.run_config("sab", 0)["model"]["cell"] == "lstm" and p.run_config("bptt", 0)["model"]["cell"] == "vanilla"
    assert p.run_config("sab", 0)["task"]["delay"] == 2
    rows = train_run(p, "sab", 0).rows
    assert any(m == "update_angle" for _, _, m, _, _ in rows)
    with pytest.raises(BioplausError, match=r"condition 'x' \(model override\): field 'cell' is 'gru'"):
        _protocol([Condition(BPTT(), model={"cell": "gru"}, label="x")], steps=2, metrics=["loss"])
    with pytest.raises(BioplausError, match="condition 'y': the task override sets unknown fields \\['lag'\\]"):
        _protocol([Condition(BPTT(), task={"lag": 3}, label="y")], steps=2, metrics=["loss"])
    with pytest.raises(BioplausError, match="rule 'sparse_attentive_backtracking' cannot run on model"):
        _protocol([SparseAttentiveBacktracking()], steps=2, metrics=["loss"])


def test_influence_balancing_cell_and_the_sign_of_truncated_gradients():
    spec = models.load("influence_balancing")
    net = RecurrentNet(spec)
    from bioplaus.tasks import InfluenceBalancing

    x, y = InfluenceBalancing(length=80, burn_in=40).sample(torch.Generator(), 1)
    batch = Batch(x, y, sequence_squared_error)
    # in the regime, h[0] = 2 theta (n_positive - n_negative) = -6 theta (independent numpy iteration)
    a = 0.5 * (np.eye(23) + np.eye(23, k=1))
    s = np.r_[np.ones(10), -np.ones(13)]
    h = np.zeros(23)
    for _ in range(80):
        h = a @ h + 0.5 * s
    torch.testing.assert_close(net(x)[0, -1, 0], torch.tensor(h[0], dtype=torch.float64), rtol=1e-12, atol=0)
    assert h[0] == pytest.approx(-6 * 0.5, rel=1e-4)
    exact = net.project(BPTT().estimate(net, batch))
    theta_grad = float(exact["recurrent.weight"][0, -1])  # s_0 = +1, so this is dL/dtheta
    assert theta_grad > 0  # h[0] ~ -6 theta < 1: the loss falls as theta falls
    for k in (1, 10):
        trunc = net.project(TruncatedBPTT(k=k).estimate(net, batch))
        assert angle_deg(trunc["recurrent.weight"], exact["recurrent.weight"]) == pytest.approx(180.0)
    rtrl = net.project(setup(RTRL(), net).estimate(net, batch))
    assert rel_err(rtrl["recurrent.weight"], exact["recurrent.weight"]) < 1e-10
    # only theta moves: the projected estimate is zero outside the bias column and proportional to s there
    w = exact["recurrent.weight"]
    assert float(w[:, :-1].abs().max()) == 0.0 and float(exact["readout.weight"].abs().max()) == 0.0
    torch.testing.assert_close(w[:, -1], theta_grad * torch.tensor(s), rtol=1e-12, atol=0)


def test_kf_rtrl_step_matches_the_papers_update():
    """The in-place step (buffers reused, D_t A_{t-1} written into the other buffer) equals
    Mujika et al.'s u_t = c1 p1 u + c2 p2 z, A_t = c1 D_t A / p1 + c2 H_t / p2 written out."""
    from bioplaus.rules.kf_rtrl import kf_rtrl_step

    g = torch.Generator().manual_seed(4)
    batch, n, k, alpha, eps = 3, 5, 8, 0.7, 1e-7
    w_rec = torch.randn((n, n), generator=g, dtype=torch.float64) / n**0.5
    u = torch.zeros((batch, k), dtype=torch.float64)
    a, a_next, scaled = (torch.zeros((batch, n, n), dtype=torch.float64) for _ in range(3))
    u_ref, a_ref = u.clone(), torch.zeros((batch, n, n), dtype=torch.float64)
    for _ in range(6):
        slope = alpha * torch.rand((batch, n), generator=g, dtype=torch.float64)
        z = torch.randn((batch, k), generator=g, dtype=torch.float64)
        c1, c2 = (torch.randint(0, 2, (2, batch), generator=g) * 2 - 1).to(torch.float64)
        u = kf_rtrl_step(u, a, a_next, scaled, c1, c2, slope, z, w_rec, alpha, eps)
        a, a_next = a_next, a
        da = (slope[:, :, None] * w_rec + (1 - alpha) * torch.eye(n, dtype=torch.float64)) @ a_ref
        p1 = ((da.flatten(1).norm(dim=1) + eps) / (u_ref.norm(dim=1) + eps)).sqrt()
        p2 = ((slope.norm(dim=1) + eps) / (z.norm(dim=1) + eps)).sqrt()
        u_ref = (c1 * p1)[:, None] * u_ref + (c2 * p2)[:, None] * z
        a_ref = (c1 / p1)[:, None, None] * da + torch.diag_embed((c2 / p2)[:, None] * slope)
        torch.testing.assert_close(u, u_ref, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(a, a_ref, rtol=1e-12, atol=1e-14)


def test_uoro_step_matches_tallec_and_olliviers_update():
    """uoro_constants + uoro_step (w~ kept as scale * theta) equal Algorithm 1 of Tallec &
    Ollivier written out: h~ = rho0 D h~ + rho1 nu, w~ = w~ / rho0 + (nu^T Mbar) / rho1, with the
    variance-minimising rho0, rho1 (float64, alpha < 1, six steps); unbiasedness alone would
    not catch a wrong rho."""
    from bioplaus.rules.uoro import uoro_constants, uoro_step

    g = torch.Generator().manual_seed(5)
    batch, n, k, steps, alpha, eps = 3, 5, 8, 6, 0.7, 1e-7
    w_rec = torch.randn((n, n), generator=g, dtype=torch.float64) / n**0.5
    signs = (torch.randint(0, 2, (steps, batch, n), generator=g) * 2 - 1).to(torch.float64)
    slope = alpha * torch.rand((batch, steps, n), generator=g, dtype=torch.float64)
    z = torch.randn((batch, steps, k), generator=g, dtype=torch.float64)
    credit = torch.randn((batch, steps, n), generator=g, dtype=torch.float64)
    kick, push = uoro_constants(signs, slope, z, eps)
    h, theta, scale = torch.zeros((batch, n), dtype=torch.float64), torch.zeros((batch, n, k), dtype=torch.float64), torch.ones(batch, dtype=torch.float64)
    h_ref, w_ref = h.clone(), theta.clone()
    for t in range(steps):
        h, scale, beta = uoro_step(h, theta, scale, kick[t], push[t], slope[:, t], z[:, t], credit[:, t], w_rec.t().contiguous(), alpha, eps)
        nu = signs[t]
        d = slope[:, t, :, None] * w_rec + (1 - alpha) * torch.eye(n, dtype=torch.float64)
        dh = torch.einsum("bij,bj->bi", d, h_ref)
        gain = (nu * slope[:, t])[:, :, None] * z[:, t, None, :]  # nu^T Mbar_t, per sequence
        rho0 = ((w_ref.flatten(1).norm(dim=1) + eps) / (dh.norm(dim=1) + eps)).sqrt()
        rho1 = ((gain.flatten(1).norm(dim=1) + eps) / (nu.norm(dim=1) + eps)).sqrt()
        h_ref = rho0[:, None] * dh + rho1[:, None] * nu
        w_ref = w_ref / rho0[:, None, None] + gain / rho1[:, None, None]
        torch.testing.assert_close(h, h_ref, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(scale[:, None, None] * theta, w_ref, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(beta[:, None, None] * theta, (credit[:, t] * h_ref).sum(1)[:, None, None] * w_ref, rtol=1e-12, atol=1e-14)


# -- the compiled whole-sequence loops (bioplaus.rules.ckernels) ---------------------------------
def _kernels_on(monkeypatch):
    """The kernels module with its library built (whatever BIOPLAUS_KERNELS says): these tests
    need a C compiler, as Brian2's cython target does."""
    from bioplaus.rules import ckernels

    monkeypatch.delenv("BIOPLAUS_KERNELS", raising=False)
    if ckernels.library() is None:
        monkeypatch.setattr(ckernels, "_TRIED", False)
    assert ckernels.library() is not None
    return ckernels


@pytest.mark.parametrize("rule_factory", [UORO, EProp, RFLO, lambda: EProp(feedback="random")])
@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_compiled_sequence_loops_equal_the_pytorch_steps(rule_factory, alpha, monkeypatch):
    """UORO, e-prop and RFLO give the same estimates, per sequence and summed over the batch (and
    the same carried state), from the compiled loop as from their PyTorch step functions (float64,
    to rounding), and the compiled loop did run."""
    ckernels = _kernels_on(monkeypatch)
    net = tiny(n=6, alpha=alpha)
    batch = sequences(net, batch=4, steps=9)
    ran = []
    usable = ckernels._usable
    monkeypatch.setattr(ckernels, "_usable", lambda *t: ran.append(usable(*t)) or ran[-1])
    compiled = [setup(rule_factory(), net).estimate(net, batch)["recurrent.weight"],
                setup(rule_factory(), net).sequence_estimates(net, batch)[0]]
    assert ran == ["_f64", "_f64"]  # both ran the compiled loop
    monkeypatch.setattr(ckernels, "_usable", lambda *t: None)
    reference = [setup(rule_factory(), net).estimate(net, batch)["recurrent.weight"],
                 setup(rule_factory(), net).sequence_estimates(net, batch)[0]]
    for got, want in zip(compiled, reference):
        assert float(want.abs().max()) > 0
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)


def test_compiled_uoro_carries_its_state_like_the_pytorch_steps(monkeypatch):
    """Two windows with the carried state (h~, theta, scale): the compiled loop continues where
    the PyTorch steps would, in float32 too (to float32 rounding)."""
    from bioplaus.rules.online import sequence_pass

    ckernels = _kernels_on(monkeypatch)
    net = tiny(n=7, alpha=0.8).float()
    batch = sequences(net, batch=3, steps=12)
    batch = Batch(batch.x.float(), batch.y.float(), batch.loss_fn)
    results, ran = [], []
    usable = ckernels._usable
    for use in (True, False):
        monkeypatch.setattr(ckernels, "_usable", (lambda *t: ran.append(usable(*t)) or ran[-1]) if use else (lambda *t: None))
        rule = setup(UORO(), net)
        carry: dict = {}
        sp = sequence_pass(net, batch)
        first = rule.recurrent_estimates(net, batch, sp, per_sequence=False, carry=carry)
        second = rule.recurrent_estimates(net, batch, sp, per_sequence=False, carry=carry)
        results.append((first, second, carry["h_tilde"] * 1, carry["theta"] * carry["scale"][:, None, None]))
    assert ran == ["_f32", "_f32"]  # the first pass ran both windows compiled, in float32
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_compiled_kf_rtrl_step_equals_the_pytorch_step(alpha, monkeypatch):
    """KF-RTRL with its step finished by the compiled kernel gives the estimates of kf_rtrl_step
    (float64, to rounding), per sequence and summed, and the kernel did run."""
    ckernels = _kernels_on(monkeypatch)
    net = tiny(n=6, alpha=alpha)
    batch = sequences(net, batch=4, steps=9)
    ran = []
    finish = ckernels.kf_rtrl_finish
    monkeypatch.setattr(ckernels, "kf_rtrl_finish", lambda *args: finish(*args) and not ran.append(1))
    compiled = [setup(KFRTRL(), net).estimate(net, batch)["recurrent.weight"], setup(KFRTRL(), net).sequence_estimates(net, batch)[0]]
    assert len(ran) == 2 * 9
    monkeypatch.setattr(ckernels, "_LIB", None)
    monkeypatch.setattr(ckernels, "_TRIED", True)
    reference = [setup(KFRTRL(), net).estimate(net, batch)["recurrent.weight"], setup(KFRTRL(), net).sequence_estimates(net, batch)[0]]
    for got, want in zip(compiled, reference):
        assert float(want.abs().max()) > 0
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)
