"""Node perturbation, weight perturbation and reward-modulated Hebbian learning as gradient
estimators, checked against the exact gradient (Werfel, Xie & Seung 2005)."""

import numpy as np
import torch

from bioplaus import metrics as M
from bioplaus.rate.feedforward import FeedforwardNet
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules import Backprop, NodePerturbation, RewardModulatedHebbian, WeightPerturbation
from bioplaus.core import Batch
from bioplaus.tasks.base import squared_error


def _linear_problem(sizes=(6, 5, 3), batch=8, seed=0):
    torch.manual_seed(seed)
    spec = FeedforwardSpec(name="lin", sizes=sizes, activations=("linear",) * (len(sizes) - 1), init="normal", init_scale=0.5)
    net = FeedforwardNet(spec, torch.Generator().manual_seed(seed)).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn((batch, sizes[0]), generator=g, dtype=torch.float64)
    y = torch.randn((batch, sizes[-1]), generator=g, dtype=torch.float64)
    return net, Batch(x, y, squared_error)


def _flat(d, names):
    return torch.cat([d[k].reshape(-1) for k in names])


def _samples(rule, net, batch, n):
    rule.setup(net, torch.Generator().manual_seed(123))
    names = [k for k, _ in net.named_parameters()]
    est = torch.stack([_flat(rule.estimate(net, batch), names) for _ in range(n)])
    return est, _flat(Backprop().estimate(net, batch), names)


def _z_scores(est, grad):
    """Per coordinate, (mean of n estimates - gradient) / standard error: N(0, 1) for an unbiased
    estimator (so none beyond ~4.5 among ~50 coordinates), growing like sqrt(n) bias / sd otherwise."""
    n = est.shape[0]
    return (est.mean(0) - grad) / (est.std(0) / n**0.5)


def _assert_unbiased(est, grad):
    z = _z_scores(est, grad)
    assert float(z.abs().max()) < 4.5, float(z.abs().max())
    assert float((z**2).mean()) < 2.0, float((z**2).mean())


def test_node_perturbation_is_unbiased_on_a_linear_network_and_its_angle_falls_with_samples():
    net, batch = _linear_problem()
    est, grad = _samples(NodePerturbation(sigma=0.3), net, batch, 1500)
    # sigma = 0.3 is large: the loss is exactly quadratic in the node noise, so no O(sigma^2) bias.
    _assert_unbiased(est, grad)
    curve = {(m, k): v for m, k, v in M.estimator_curve(est, grad, [10, 100, 1500])}
    angles = [curve[(m, "estimate_bias_angle")] for m in (10, 100, 1500)]
    assert all(a > b for a, b in zip(angles, angles[1:])), angles
    # for an unbiased estimator the angle shrinks like sqrt(variance / m)
    var = curve[(1500, "estimate_variance")]
    assert np.degrees(np.arctan(np.sqrt(var / 1500))) * 0.5 < angles[-1] < np.degrees(np.arctan(np.sqrt(var / 1500))) * 2


def test_node_perturbation_is_biased_in_a_nonlinear_network_with_large_noise():
    torch.manual_seed(0)
    spec = FeedforwardSpec(name="tanh", sizes=(6, 5, 3), activations=("tanh", "tanh"), init="normal", init_scale=1.0)
    net = FeedforwardNet(spec, torch.Generator().manual_seed(0)).double()
    g = torch.Generator().manual_seed(1)
    batch = Batch(torch.randn((8, 6), generator=g, dtype=torch.float64), torch.randn((8, 3), generator=g, dtype=torch.float64), squared_error)
    est, grad = _samples(NodePerturbation(sigma=1.0), net, batch, 1500)
    assert float(_z_scores(est, grad).abs().max()) > 8  # O(sigma^2) bias, far above sampling noise


def test_weight_perturbation_is_unbiased_for_one_linear_layer():
    net, batch = _linear_problem(sizes=(6, 3))
    est, grad = _samples(WeightPerturbation(sigma=0.2), net, batch, 1500)
    _assert_unbiased(est, grad)


def test_reward_modulated_hebbian_is_unbiased_for_one_linear_layer_and_uses_the_critic_as_baseline():
    one_layer, one_batch = _linear_problem(sizes=(6, 3))
    est, grad = _samples(RewardModulatedHebbian(sigma=0.3, critic_rate=0.5), one_layer, one_batch, 1500)
    _assert_unbiased(est, grad)
    net, batch = _linear_problem()
    rule = RewardModulatedHebbian(sigma=0.3, critic_rate=0.5)
    # the critic is an exponential running average of the loss, starting from the clean loss
    rule.setup(net, torch.Generator().manual_seed(5))
    clean = float(batch.loss(net(batch.x).detach()))
    first = rule.estimate(net, batch)
    seen = rule._last_loss
    rule.after_step(net, batch, first)
    assert rule.expected_loss == clean + 0.5 * (seen - clean)
    second = rule.estimate(net, batch)
    # the modulator of the second update is the reward-prediction error against the critic:
    # rebuild its noise from the same generator state and recompute the estimate independently
    g = torch.Generator().manual_seed(5)
    _ = [torch.randn((8, n), generator=g, dtype=torch.float64) for n in (5, 3)]  # the first estimate's noise
    xi1, xi2 = (torch.randn((8, n), generator=g, dtype=torch.float64) * 0.3 for n in (5, 3))
    w1, w2 = net.layers["hidden1"].weight.detach(), net.layers["output"].weight.detach()
    h1 = batch.x @ w1.t() + net.layers["hidden1"].bias.detach()
    out = (h1 + xi1) @ w2.t() + net.layers["output"].bias.detach() + xi2
    loss = 0.5 * ((out - batch.y) ** 2).sum(1).mean()
    rpe = float(loss) - rule.expected_loss
    torch.testing.assert_close(second["layers.output.weight"], rpe / 0.09 * xi2.t() @ (h1 + xi1), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(second["layers.hidden1.weight"], rpe / 0.09 * xi1.t() @ batch.x, rtol=1e-10, atol=1e-12)
