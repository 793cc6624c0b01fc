"""Sign symmetry, Kolen-Pollack and the weight mirror on layered networks, against mathematics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bioplaus import rules
from bioplaus.errors import BioplausError
from bioplaus.metrics import feedback_alignment_metrics
from bioplaus.rules import Batch, FeedbackAlignment, KolenPollack, SignSymmetryBRSF, SignSymmetryFRSF, SignSymmetryUSF, WeightMirror
from bioplaus.rules.sign_symmetry import glorot_std, sign_concordant_feedback
from bioplaus.rules.weight_mirror import mirror_update_
from bioplaus.tasks import squared_error
from bioplaus.tasks.base import TaskInstance
from bioplaus.train import Trainer


def make_batch(net, n=9, seed=1):
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.randn((n, net.spec.sizes[0]), generator=g, dtype=torch.float64),
                 torch.randn((n, net.spec.sizes[-1]), generator=g, dtype=torch.float64), squared_error)


def setup(rule, net, seed=3):
    rule.setup(net, torch.Generator().manual_seed(seed))
    return rule


def numpy_fa_estimate(net, batch, feedback):
    """dLoss/dW of a tanh net by hand in numpy, the error going down through ``feedback[name]`` (shape W^T)."""
    names = net.layer_names
    W = [net.linear(n).weight.detach().numpy() for n in names]
    b = [net.linear(n).bias.detach().numpy() for n in names]
    h, inputs, pre = batch.x.numpy(), [], []
    for i in range(len(W)):
        inputs.append(h)
        a = h @ W[i].T + b[i]
        pre.append(a)
        h = np.tanh(a) if i < len(W) - 1 else a
    delta = (h - batch.y.numpy()) / h.shape[0]  # d(mean_batch 1/2|y_hat - y|^2)/da_L
    grads = {}
    for i in reversed(range(len(W))):
        grads[f"layers.{names[i]}.weight"] = delta.T @ inputs[i]
        grads[f"layers.{names[i]}.bias"] = delta.sum(0)
        if i > 0:
            delta = (delta @ feedback[names[i]].T) * (1 - np.tanh(pre[i - 1]) ** 2)
    return grads


# -- sign symmetry -----------------------------------------------------------------------


@pytest.mark.parametrize("s", [1.0, 0.3])
def test_usf_feedback_is_s_sign_w_transposed_exactly(s, make_net):
    net = make_net((5, 8, 6, 3))
    rule = setup(SignSymmetryUSF(scale=s), net)
    fb = rule.feedback()
    assert set(fb) == {"hidden2", "output"}
    for name, b in fb.items():
        w = net.linear(name).weight.detach()
        expected = s * np.sign(w.numpy().T)
        assert b.shape == w.t().shape
        assert np.array_equal(b.numpy(), expected), name  # exact, not approximately
    rows = {(m, l): v for m, l, v in feedback_alignment_metrics(fb, rule.feedback_targets(net))}
    assert rows[("sign_concordance", "all")] == 1.0


def test_usf_estimate_is_numpy_backprop_through_s_sign_w(make_net):
    net = make_net((5, 8, 6, 3))
    batch = make_batch(net)
    rule = setup(SignSymmetryUSF(scale=0.5), net)
    feedback = {n: 0.5 * np.sign(net.linear(n).weight.detach().numpy().T) for n in ("hidden2", "output")}
    expected = numpy_fa_estimate(net, batch, feedback)
    est = rule.estimate(net, batch)
    assert est.keys() == expected.keys()
    for k in est:
        np.testing.assert_allclose(est[k].numpy(), expected[k], rtol=1e-10, atol=1e-13, err_msg=k)


def test_usf_follows_the_signs_of_the_current_weights(make_net):
    net = make_net((4, 6, 3))
    rule = setup(SignSymmetryUSF(), net)
    with torch.no_grad():
        net.linear("output").weight.neg_()
    assert torch.equal(rule.feedback()["output"], torch.sign(net.linear("output").weight.detach()).t())


def test_norm_scaling_matches_forward_norm(make_net):
    net = make_net((4, 6, 5, 3))
    for rule in (SignSymmetryUSF(scaling="norm"), SignSymmetryFRSF(scaling="norm")):
        setup(rule, net)
        for name, b in rule.feedback().items():
            assert math.isclose(float(b.norm()), float(net.linear(name).weight.detach().norm()), rel_tol=1e-12)
    with pytest.raises(BioplausError, match="allowed values are 'none', 'norm', 'mean_abs' or 'glorot'"):
        SignSymmetryUSF(scaling="max")


def test_mean_abs_scaling_matches_the_mean_absolute_forward_weight(make_net):
    net = make_net((4, 6, 5, 3))
    for rule in (SignSymmetryUSF(scale=3.0, scaling="mean_abs"), SignSymmetryBRSF(scaling="mean_abs"),
                 SignSymmetryFRSF(scaling="mean_abs")):
        setup(rule, net)
        for name, b in rule.feedback().items():
            w = net.linear(name).weight.detach()
            assert math.isclose(float(b.abs().mean()), float(w.abs().mean()), rel_tol=1e-12)
            assert torch.equal(torch.sign(b), torch.sign(w).t())
    b = setup(SignSymmetryUSF(scaling="mean_abs"), net).feedback()["output"]  # uSF: every entry is +-mean|W|
    torch.testing.assert_close(b.abs(), torch.full_like(b, float(net.linear("output").weight.detach().abs().mean())),
                               rtol=1e-12, atol=0)


def test_glorot_scaling_multiplies_by_the_glorot_std_of_the_layer(make_net):
    net = make_net((4, 6, 5, 3))
    usf, frsf = setup(SignSymmetryUSF(scale=2.0, scaling="glorot"), net), setup(SignSymmetryFRSF(scaling="glorot"), net)
    for name in ("hidden2", "output"):
        w = net.linear(name).weight.detach()
        std = math.sqrt(2.0 / (w.shape[0] + w.shape[1]))
        torch.testing.assert_close(usf.feedback()[name], 2.0 * std * torch.sign(w).t(), rtol=1e-14, atol=0)
        torch.testing.assert_close(frsf.feedback()[name], (std * frsf.M[name] * torch.sign(w)).t(), rtol=1e-14, atol=0)
    conv = torch.zeros(8, 3, 5, 5)  # fan_in 3*25, fan_out 8*25, as torch.nn.init counts them
    assert math.isclose(glorot_std(conv), math.sqrt(2.0 / (75 + 200)), rel_tol=1e-15)
    w = torch.randn(8, 3, 5, 5, dtype=torch.float64)
    b = sign_concordant_feedback(w, 1.0, "glorot")
    assert torch.equal(b, torch.sign(w) * glorot_std(w))


def test_brsf_redraws_magnitudes_after_each_update_and_frsf_keeps_them(make_net):
    net = make_net((4, 7, 6, 3))
    batch = make_batch(net)
    brsf, frsf = setup(SignSymmetryBRSF(), net), setup(SignSymmetryFRSF(), net)
    for rule in (brsf, frsf):
        before = {k: v.clone() for k, v in rule.feedback().items()}
        est = rule.estimate(net, batch)
        assert all(torch.equal(before[k], v) for k, v in rule.feedback().items())  # estimate: no side effect
        rule.after_step(net, batch, est)
        after = rule.feedback()
        changed = [not torch.equal(before[k], after[k]) for k in before]
        assert all(changed) if rule is brsf else not any(changed)
        for name, b in after.items():  # magnitudes random, signs always those of W
            assert torch.equal(torch.sign(b), torch.sign(net.linear(name).weight.detach()).t())
            assert len(torch.unique(b.abs())) > b.numel() // 2


# -- Kolen-Pollack ------------------------------------------------------------------------


def trainer_for(net, rule, batches, optimizer):
    task = TaskInstance(squared_error, iter(batches).__next__, test=(batches[0].x, batches[0].y), train_eval=None,
                        n_train=None, classification=False)
    return Trainer(net, rule, task, optimizer, ["loss"], batches[0].x.shape[0])


def test_kolen_pollack_difference_decays_as_one_minus_eta_lambda_to_the_t(make_net):
    net = make_net((6, 9, 7, 4))
    rule = setup(KolenPollack(), net)
    eta, lam, steps = 0.05, 0.4, 25
    batches = [make_batch(net, seed=s) for s in range(steps)]
    trainer = trainer_for(net, rule, batches, ("sgd", {"lr": eta, "weight_decay": lam}))

    def gap(name):
        return float((net.linear(name).weight.detach() - rule.B[name].t()).norm())

    gap0 = {n: gap(n) for n in rule.B}
    assert min(gap0.values()) > 0.1
    for t, batch in enumerate(batches, start=1):
        trainer.step(t, batch, record=False)
        for n in rule.B:
            assert math.isclose(gap(n), (1 - eta * lam) ** t * gap0[n], rel_tol=1e-9), (n, t)


def test_kolen_pollack_with_momentum_converges_and_needs_an_optimizer(make_net):
    net = make_net((6, 9, 4))
    rule = setup(KolenPollack(), net)
    with pytest.raises(BioplausError, match="optimizer"):
        rule.after_step(net, None, rule.estimate(net, make_batch(net)))
    batches = [make_batch(net, seed=s) for s in range(300)]
    trainer = trainer_for(net, rule, batches, ("sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.5}))
    angle0 = feedback_alignment_metrics(rule.feedback(), rule.feedback_targets(net))[0][2]
    for t, batch in enumerate(batches):
        trainer.step(t, batch, record=False)
    angle = feedback_alignment_metrics(rule.feedback(), rule.feedback_targets(net))[0][2]
    assert angle0 > 70 and angle < 1.0


# -- weight mirror ------------------------------------------------------------------------


def test_mirror_update_tiny_case_by_hand():
    # 2 pre, 2 post, 3 noise samples: b <- (1 - decay) b + lr y^T x / n, y = x w^T.
    w = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    b = torch.tensor([[0.1, 0.2], [-0.3, 0.4]], dtype=torch.float64)
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]], dtype=torch.float64)
    lr, decay = 0.3, 0.1
    y = [[1.0, 0.5], [-4.0, 6.0], [-3.0, 2.5]]  # x w^T, by hand
    expected = [[(1 - decay) * b[i, j].item() + lr / 3 * sum(y[s][i] * x[s, j].item() for s in range(3))
                 for j in range(2)] for i in range(2)]
    mirror_update_(b, w, x, lr, decay)
    np.testing.assert_allclose(b.numpy(), np.array(expected), rtol=1e-14)


def test_weight_mirror_lowers_weight_angle_towards_a_multiple_of_w(make_net):
    net = make_net((6, 20, 15, 4))
    rule = setup(WeightMirror(mirror_every=1, mirror_lr=0.05, mirror_decay=0.05, noise_std=1.0, mirror_batch=64), net)

    def metrics():
        return {(m, l): v for m, l, v in feedback_alignment_metrics(rule.feedback(), rule.feedback_targets(net))}

    angles = [metrics()[("weight_angle", "all")]]
    for _ in range(6):
        for _ in range(20):
            rule.after_step(net, None, {})
        angles.append(metrics()[("weight_angle", "all")])
    assert angles[0] > 70
    assert angles[0] > angles[1] > angles[2], angles  # then it settles at a noise floor of a few degrees
    assert max(angles[3:]) < 10, angles
    # fixed point: B -> (eta sigma^2 / lambda) W^T = W^T here, so the norm ratio approaches 1
    assert abs(metrics()[("norm_ratio", "all")] - 1) < 0.1


def test_weight_mirror_frequency(make_net):
    net = make_net((5, 8, 3))
    rule = setup(WeightMirror(mirror_every=3), net)
    b0 = rule.B["output"].clone()
    rule.after_step(net, None, {})
    rule.after_step(net, None, {})
    assert torch.equal(rule.B["output"], b0)
    rule.after_step(net, None, {})
    assert not torch.equal(rule.B["output"], b0)
    with pytest.raises(BioplausError, match="mirror_every"):
        WeightMirror(mirror_every=0)


def test_new_rules_by_name_and_feedback_kept_with_the_run(make_net):
    for name in ("sign_symmetry_usf", "sign_symmetry_brsf", "sign_symmetry_frsf", "kolen_pollack", "weight_mirror"):
        rule = setup(rules.get(name), make_net((4, 6, 5, 3)))
        arrays = rule.arrays()
        assert set(arrays) == {"feedback/hidden2", "feedback/output"}, name
        assert arrays["feedback/output"].shape == (5, 3)


@pytest.mark.parametrize("rule_cls", [SignSymmetryUSF, SignSymmetryBRSF, SignSymmetryFRSF, KolenPollack, WeightMirror])
def test_estimate_has_no_side_effects_and_output_layer_is_exact(rule_cls, make_net):
    net = make_net((5, 7, 6, 3))
    batch = make_batch(net)
    rule = setup(rule_cls(), net)
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    feedback = {k: v.clone() for k, v in rule.feedback().items()}
    first, second = rule.estimate(net, batch), rule.estimate(net, batch)
    assert all(torch.equal(v.detach(), params[k]) and v.grad is None for k, v in net.named_parameters())
    assert all(torch.equal(v, feedback[k]) for k, v in rule.feedback().items())
    assert all(torch.equal(first[k], second[k]) for k in first)
    exact = torch.autograd.grad(batch.loss(net(batch.x)), [net.linear("output").weight])[0]
    torch.testing.assert_close(first["layers.output.weight"], exact, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("settings", [
    {"lr": 0.1}, {"lr": 0.05, "weight_decay": 0.01}, {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3},
    {"lr": 0.02, "momentum": 0.8, "dampening": 0.3}, {"lr": 0.02, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
])
def test_kolen_pollack_sgd_step_equals_torch_sgd_exactly(settings):
    from bioplaus.rules.kolen_pollack import _plain_sgd, sgd_step_

    g = torch.Generator().manual_seed(0)
    ours, theirs = torch.randn(5, 7, generator=g), None
    theirs = ours.clone().requires_grad_(True)
    opt = torch.optim.SGD([theirs], **settings)
    group, state = _plain_sgd(torch.optim.SGD([ours.clone()], **settings)), {}
    assert group is not None
    for _ in range(4):
        grad = torch.randn(5, 7, generator=g)
        kept = grad.clone()
        theirs.grad = grad.clone()
        opt.step()
        sgd_step_(ours, grad, group, state)
        assert torch.equal(grad, kept)  # the estimate is not modified
        assert torch.equal(ours, theirs.detach())
    assert _plain_sgd(torch.optim.Adam([torch.zeros(1, requires_grad=True)])) is None
    assert _plain_sgd(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, maximize=True)) is None


def test_constrain_weights_keeps_every_forward_norm_at_its_initial_value(make_net):
    import bioplaus
    from bioplaus.rules.wrap import update_feedback

    net = make_net((4, 6, 5, 3))
    batches = [make_batch(net, seed=s) for s in range(3)]
    initial = {n: float(net.linear(n).weight.detach().norm()) for n in net.layer_names}
    trainer = trainer_for(net, setup(SignSymmetryUSF(scaling="norm", constrain_weights=True), net), batches, ("sgd", {"lr": 0.5}))
    for i, batch in enumerate(batches):
        trainer.step(i, batch, record=False)
    for n in net.layer_names:
        assert math.isclose(float(net.linear(n).weight.detach().norm()), initial[n], rel_tol=1e-12), n
    free = make_net((4, 6, 5, 3))
    free_trainer = trainer_for(free, setup(SignSymmetryUSF(scaling="norm"), free), batches, ("sgd", {"lr": 0.5}))
    for i, batch in enumerate(batches):
        free_trainer.step(i, batch, record=False)
    assert any(abs(float(free.linear(n).weight.detach().norm()) - initial[n]) > 1e-3 for n in free.layer_names)

    module = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    bioplaus.wrap(module, SignSymmetryBRSF(constrain_weights=True), generator=torch.Generator().manual_seed(0))
    norms = [float(module[i].weight.detach().norm()) for i in (0, 2)]
    opt = torch.optim.SGD(module.parameters(), lr=0.5)
    squared_error(module(batches[0].x), batches[0].y).backward()
    opt.step()
    update_feedback(module, opt)
    assert [float(module[i].weight.detach().norm()) for i in (0, 2)] == pytest.approx(norms, rel=1e-12)
    assert SignSymmetryUSF(constrain_weights=True).config()["constrain_weights"] is True
    assert "constrain_weights" not in SignSymmetryUSF().config()


def test_bench_alternating_takes_every_variants_step_i_before_any_step_i_plus_1():
    from bioplaus.bench.fa_family import alternating

    calls, now = [], [0.0]
    cost = {"a": 1.0, "b": 2.0, "c": 4.0}

    def variant(label):
        def fn(i):
            calls.append((label, i))
            now[0] += cost[label]
        return fn

    times = alternating({k: variant(k) for k in cost}, repeats=3, steps=5, warmup=0, clock=lambda: now[0])
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert times == {k: [5 * c] * 3 for k, c in cost.items()}  # each call timed alone: no other variant's time leaks in
    steps = [i for _, i in calls]
    assert all(steps[j:j + 3] == [steps[j]] * 3 and {l for l, _ in calls[j:j + 3]} == set(cost) for j in range(0, len(calls), 3))
    assert len({calls[j][0] for j in range(0, 15, 3)}) == 3  # the variant that goes first rotates
