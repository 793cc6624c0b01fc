"""Difference target propagation and SDTP against the targets' closed forms (Meulemans et al. 2020), in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bioplaus import models
from bioplaus.errors import BioplausError
from bioplaus.metrics import grouped_angles
from bioplaus.metrics.probes import PROBES, Observation
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules import Batch, DifferenceTargetPropagation, SimplifiedDTP
from bioplaus.rules.base import gradients_from_deltas
from bioplaus.tasks import cross_entropy, squared_error
from bioplaus.train import layer_groups

N = 4


def square_net(activation="linear", seed=0, n_layers=4):
    spec = FeedforwardSpec(name="sq", sizes=(N,) * (n_layers + 1), activations=(activation,) * (n_layers - 1) + ("linear",))
    net = models.build(spec, torch.Generator().manual_seed(seed)).double()
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed + 100)
        for name in net.layer_names:  # well-conditioned, invertible weights and nonzero biases
            w = net.linear(name).weight
            w.copy_(torch.eye(N, dtype=torch.float64) + 0.3 * torch.randn((N, N), generator=g, dtype=torch.float64))
            net.linear(name).bias.copy_(0.1 * torch.randn(N, generator=g, dtype=torch.float64))
    return net


def batch_for(net, loss=squared_error, n=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = 0.5 * torch.randn((n, N), generator=g, dtype=torch.float64)
    y = torch.randint(0, N, (n,), generator=g) if loss is cross_entropy else torch.randn((n, N), generator=g, dtype=torch.float64)
    return Batch(x, y, loss)


def set_exact_linear_inverses(rule, net):
    """g_l = f_l^-1 for a linear layer: V = W^-1, c = -W^-1 b."""
    for i in rule.V:
        layer = net.linear(net.layer_names[i])
        w_inv = torch.linalg.inv(layer.weight.detach())
        rule.V[i] = w_inv.clone()
        rule.c[i] = -(w_inv @ layer.bias.detach())


def jacobian(net, fp, lower, upper):
    """Per-sample ``dh_upper/dh_lower`` ``(batch, n, n)`` (layer indices, 0 = first weight layer), written out."""
    j = torch.eye(N, dtype=torch.float64).expand(fp.post[0].shape[0], N, N)
    for k in range(lower + 1, upper + 1):
        w = net.linear(net.layer_names[k]).weight.detach()
        slope = 1 - fp.post[k].detach() ** 2 if fp.activations[k] == "tanh" else torch.ones_like(fp.post[k])
        j = slope[:, :, None] * (w @ j)
    return j


def solve(j, v):
    """``J^-1 v`` per sample for ``j`` ``(batch, n, n)`` and ``v`` ``(batch, n)``."""
    return torch.linalg.solve(j, v.unsqueeze(-1)).squeeze(-1)


def setup(rule, net, seed=3):
    rule.setup(net, torch.Generator().manual_seed(seed))
    return rule


def test_dtp_targets_on_a_linear_invertible_net_are_inverse_jacobian_times_penultimate_gradient():
    net = square_net()
    batch = batch_for(net)
    rule = setup(DifferenceTargetPropagation(target_step=0.3), net)
    set_exact_linear_inverses(rule, net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    targets = rule.targets(net, fp)
    top = len(targets) - 2
    grad_top = (fp.post[-1] - batch.y).detach() @ net.linear(net.layer_names[-1]).weight.detach()  # dloss_n/dh_{L-1}
    assert targets[-1] is None
    for i in range(top + 1):
        expected = -0.3 * solve(jacobian(net, fp, i, top), grad_top)
        assert torch.allclose(targets[i] - fp.post[i].detach(), expected, rtol=0, atol=1e-12), i


def test_dtp_output_target_form_is_inverse_jacobian_times_output_gradient():
    net = square_net()
    batch = batch_for(net)
    rule = setup(DifferenceTargetPropagation(target_step=0.3, gradient_target="output"), net)
    set_exact_linear_inverses(rule, net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    targets = rule.targets(net, fp)
    grad_out = (fp.post[-1] - batch.y).detach()
    for i in range(len(targets)):
        expected = -0.3 * solve(jacobian(net, fp, i, len(targets) - 1), grad_out)
        assert torch.allclose(targets[i] - fp.post[i].detach(), expected, rtol=0, atol=1e-12), i


def test_sdtp_targets_on_a_linear_invertible_net_are_inverse_jacobian_times_residual():
    net = square_net()
    batch = batch_for(net)
    rule = setup(SimplifiedDTP(), net)
    set_exact_linear_inverses(rule, net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    targets = rule.targets(net, fp)
    assert targets[-1] is None  # the output layer learns from the loss
    residual = (batch.y - fp.post[-1]).detach()
    for i in range(len(targets) - 1):
        expected = solve(jacobian(net, fp, i, len(targets) - 1), residual)
        assert torch.allclose(targets[i] - fp.post[i].detach(), expected, rtol=0, atol=1e-12), i


def test_dtp_penultimate_update_is_backprop_and_lower_updates_are_not():
    net = square_net(seed=5)
    batch = batch_for(net, n=9)
    rule = setup(DifferenceTargetPropagation(target_step=0.01), net)
    set_exact_linear_inverses(rule, net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    est = gradients_from_deltas(net, fp, rule.deltas(net, fp))
    angles = grouped_angles(est, net.reference_gradient(batch), layer_groups(net))
    assert angles["output"] < 1e-9 and angles["hidden3"] < 1e-9
    assert angles["hidden1"] > 1.0  # a Gauss-Newton-like direction below, not the gradient


class ExactInverseDTP(DifferenceTargetPropagation):
    """DTP whose inverses are the analytic inverses of a square tanh net: ``W^-1 (atanh(h) - b)``."""

    def __init__(self, net, **kwargs):
        super().__init__(**kwargs)
        self.net = net

    def inverse(self, activations, i, u):
        layer = self.net.linear(self.net.layer_names[i])
        a = torch.atanh(u) if activations[i] == "tanh" else u
        return torch.linalg.solve(layer.weight.detach(), (a - layer.bias.detach()).t()).t()


def test_dtp_targets_on_a_nonlinear_invertible_net_match_to_second_order_in_the_step():
    net = square_net(activation="tanh", seed=2)
    batch = batch_for(net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    top = len(net.layer_names) - 2
    errors = []
    steps = [1e-2, 1e-3, 1e-4]
    for eta in steps:
        rule = setup(ExactInverseDTP(net, target_step=eta), net)
        targets = rule.targets(net, fp)
        grad_top = (fp.post[-1] - batch.y).detach() @ net.linear(net.layer_names[-1]).weight.detach()
        expected = -eta * solve(jacobian(net, fp, 0, top), grad_top)
        errors.append(float((targets[0] - fp.post[0].detach() - expected).abs().max()))
    slope = np.polyfit(np.log(steps), np.log(errors), 1)[0]
    assert 1.9 < slope < 2.1, (slope, errors)


def test_inverse_reconstruction_error_falls_as_the_inverses_learn():
    spec = FeedforwardSpec(name="t", sizes=(6, 10, 8, 8, 3), activations=("tanh", "tanh", "tanh", "linear"))
    net = models.build(spec, torch.Generator().manual_seed(0)).double()
    g = torch.Generator().manual_seed(1)
    batch = Batch(torch.randn((32, 6), generator=g, dtype=torch.float64), torch.randint(0, 3, (32,), generator=g), cross_entropy)
    for rule in (DifferenceTargetPropagation(inverse_lr=1e-2), SimplifiedDTP(aux_output=5, inverse_lr=1e-2)):
        setup(rule, net)
        fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
        rule.deltas(net, fp)
        before = rule.probe_values()["reconstruction_error"]
        for _ in range(300):
            rule.after_step(net, batch, {})  # the forward weights stay fixed: only the inverses learn
        after = rule.probe_values()["reconstruction_error"]
        assert set(before) == set(after) and before
        for layer in before:
            assert after[layer] < 0.5 * before[layer], (rule.name, layer, before[layer], after[layer])


def forbid_autograd(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("autograd called")
    monkeypatch.setattr(torch.autograd, "grad", refuse)
    monkeypatch.setattr(torch.Tensor, "backward", refuse)


@pytest.mark.parametrize("aux", [0, 3])
def test_sdtp_penultimate_target_comes_from_the_inverse_of_the_label_without_autograd(aux, monkeypatch):
    spec = FeedforwardSpec(name="t", sizes=(6, 7, 5, 3), activations=("tanh", "tanh", "linear"))
    net = models.build(spec, torch.Generator().manual_seed(0)).double()
    batch = Batch(torch.randn((8, 6), dtype=torch.float64, generator=torch.Generator().manual_seed(2)),
                  torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), cross_entropy)
    rule = setup(SimplifiedDTP(aux_output=aux), net)
    forbid_autograd(monkeypatch)
    with torch.no_grad():
        fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
        deltas = rule.deltas(net, fp)
        targets = rule._last["targets"]
        p = torch.softmax(fp.post[-1], 1)
        onehot = torch.nn.functional.one_hot(batch.y, 3).double()
        if aux:
            z = torch.tanh(fp.post[-2] @ rule.A.t())
            p, onehot = torch.cat([p, z], 1), torch.cat([onehot, z], 1)
        v, c = rule.V[2], rule.c[2]
        by_hand = fp.post[1] + torch.tanh(onehot @ v.t() + c) - torch.tanh(p @ v.t() + c)
    assert torch.allclose(targets[1], by_hand, rtol=0, atol=1e-14)
    assert deltas[-1].shape == (8, 3) and all(d.isfinite().all() for d in deltas)


def test_target_angle_probe_is_zero_for_dtp_at_the_penultimate_layer_and_not_for_sdtp():
    net = square_net(seed=7)
    batch = batch_for(net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    rows = {}
    for rule in (DifferenceTargetPropagation(target_step=0.1), SimplifiedDTP()):
        setup(rule, net)
        set_exact_linear_inverses(rule, net)
        rule.deltas(net, fp)
        obs = Observation(loss=0.0, estimate=None, reference=None, groups={}, aux={"rule": rule.probe_values()})
        rows[rule.name] = {(m, layer): v for m, layer, v in PROBES["target_angle"].fn(obs)}
    dtp, sdtp = rows["difference_target_propagation"], rows["simplified_dtp"]
    assert dtp[("target_angle", "hidden3")] < 1e-6
    assert dtp[("target_angle", "hidden1")] > 1.0
    assert sdtp[("target_angle", "hidden3")] > 1.0  # the target is J^-1 (y - h_L), not the gradient
    assert dtp[("reconstruction_error", "hidden2")] < 1e-20  # exact inverses


def test_bad_settings_are_one_paragraph_errors():
    with pytest.raises(BioplausError, match="schedule"):
        DifferenceTargetPropagation(schedule="sometimes")
    with pytest.raises(BioplausError, match="gradient_target"):
        DifferenceTargetPropagation(gradient_target="input")
    with pytest.raises(BioplausError, match="aux_output"):
        SimplifiedDTP(aux_output=-1)


def tiny_run(rule, steps=12, n_train=12, batch_size=4):
    """A Trainer on 12 random 6-dimensional samples in batches of 4 (3 batches per epoch), with spies on the two
    kinds of update: which batches changed the forward weights and which trained the inverses."""
    from bioplaus import train
    from bioplaus.tasks.base import classification_instance

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn((n_train, 6), generator=g), torch.randint(0, 3, (n_train,), generator=g)
    task = classification_instance(x, y, x, y, torch.Generator().manual_seed(1), batch_size)
    spec = FeedforwardSpec(name="t", sizes=(6, 8, 8, 8, 3), activations=("tanh", "tanh", "tanh", "linear"))
    net = models.build(spec, torch.Generator().manual_seed(0))
    rule.setup(net, torch.Generator().manual_seed(2))
    trainer = train.Trainer(net, rule, task, ("adam", {"lr": 1e-3}), ["loss"], batch_size)
    log = []
    inverse_step = rule.train_inverses
    rule.train_inverses = lambda *a: (log[-1].append("inverse"), inverse_step(*a))
    for step in range(steps):
        w = [net.linear(n).weight.detach().clone() for n in net.layer_names]
        v = {i: rule.V[i].clone() for i in rule.V}
        log.append([])
        trainer.step(step, task.next_batch(), record=False)
        if any(not torch.equal(a, net.linear(n).weight) for a, n in zip(w, net.layer_names)):
            log[-1].append("forward")
        assert ("inverse" in log[-1]) == any(not torch.equal(v[i], rule.V[i]) for i in rule.V)
    return log


@pytest.mark.parametrize("rule_class", [DifferenceTargetPropagation, SimplifiedDTP])
def test_schedules_make_the_updates_of_bartunov_algorithm_1_and_of_lee_epoch_alternation(rule_class):
    """Parallel (Bartunov et al. 2018, Algorithm 1): every batch trains the inverses and then the forward weights.
    Alternating (Sec. 2.1): a whole epoch (3 batches here) of inverse-only updates, then an epoch of forward-only ones."""
    assert tiny_run(rule_class(schedule="parallel")) == [["inverse", "forward"]] * 12
    pattern = [["inverse"]] * 3 + [["forward"]] * 3
    assert tiny_run(rule_class(schedule="alternating")) == pattern * 2
    assert tiny_run(rule_class(schedule="alternating", epoch_batches=2)) == ([["inverse"]] * 2 + [["forward"]] * 2) * 3


def test_alternating_without_an_epoch_is_an_error():
    rule = setup(DifferenceTargetPropagation(schedule="alternating"), square_net())
    rule.bind_epoch(None)
    with pytest.raises(BioplausError, match="epoch_batches"):
        rule.trains_forward()
    with pytest.raises(BioplausError, match="epoch_batches"):
        DifferenceTargetPropagation(epoch_batches=0)


def test_noise_preserving_inverses_are_at_rest_at_the_exact_inverse_and_denoising_ones_are_not():
    """With g_l = f_l^-1 (linear layers) the noise-preserving loss |g(f(h + xi)) - (h + xi)|^2 is 0 for every xi, so
    DTP's inverses do not move; the de-noising loss |g(f(h + xi)) - h|^2 = |xi|^2 is not, so SDTP's move (Bartunov
    et al. 2018, Sec. 5.1: noise-preserving for DTP, de-noising for SDTP)."""
    for denoise in (False, True):
        net = square_net()
        rule = setup(DifferenceTargetPropagation(gradient_target="output", noise=0.3, denoise=denoise), net)
        set_exact_linear_inverses(rule, net)
        before = {i: rule.V[i].clone() for i in rule.V}
        batch = batch_for(net)
        rule.deltas(net, net.forward_pass(batch.x, batch.y, batch.loss_fn))
        rule.train_inverses(net, batch)
        moved = max(float((rule.V[i] - before[i]).abs().max()) for i in rule.V)
        # Adam's first step moves a parameter by ~lr (1e-3) whatever its gradient's size, and by lr * g / eps where
        # g ~ 1e-16 is float64 rounding: ~1e-11
        assert (moved > 1e-4) if denoise else (moved < 1e-8), (denoise, moved)
    assert SimplifiedDTP().denoise and not DifferenceTargetPropagation().denoise


def test_a_linear_baseline_follows_the_data_dir_model_through_a_none_input_size():
    """bartunov2018_mnist's ``linear`` condition: sizes [None, 10] take the protocol model's input size, 40 on the
    MNIST-1D proxy and 784 on MNIST (--data-dir), so the baseline runs on whichever data the rules run on."""
    from bioplaus import Condition, Protocol, rules, tasks

    net = FeedforwardSpec(name="n1d", sizes=(40, 16, 10), activations=("tanh", "linear"))
    p = Protocol(name="t", task=tasks.ByDataDir(default=tasks.MNIST1D(), with_data_dir=tasks.MNIST(),
                                                model_with_data_dir=FeedforwardSpec(name="n", sizes=(784, 16, 10),
                                                                                    activations=("tanh", "linear"))),
                 model=net, rules=[rules.Backprop(), Condition(rules.Backprop(), label="linear", model={
                     "sizes": [None, 10], "activations": ["linear"], "layer_names": ["output"]})], steps=1)
    assert p.condition("linear").model.sizes == (40, 10)
    assert p.for_data_dir("/somewhere").condition("linear").model.sizes == (784, 10)
