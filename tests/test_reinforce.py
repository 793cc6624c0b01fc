"""REINFORCE with baselines on a 3-unit stochastic binary layer, against the exact gradient of the expected loss
(enumeration of the 8 hidden states; Williams 1992, Weber et al. 2019).

Unbiasedness is a per-coordinate z-test of the mean of ``n`` estimates (see tests/test_evolution_strategies.py):
for an unbiased estimator ``P(max |z| > 4.5) <= 23 * 6.8e-6 < 2e-4`` over the 23 parameters; each test is seeded,
so deterministic. The guard tests show that the same check fails for a baseline that depends on the sample.
"""

from __future__ import annotations

import math

import pytest
import torch

from bioplaus import metrics as M
from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rate.stochastic import (
    StochasticBinaryNet,
    StochasticSpec,
    binary_states,
    stochastic_spec_from_dict,
)
from bioplaus.rules.reinforce import Reinforce, score_function_estimate
from bioplaus.tasks.base import cross_entropy, squared_error


def problem(loss=squared_error, seed=0, target_scale=3.0):
    net = StochasticBinaryNet(StochasticSpec(name="sbn", n_in=4, n_hidden=3, n_out=2, init_scale=2.0),
                              torch.Generator().manual_seed(seed)).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn((5, 4), generator=g, dtype=torch.float64)
    y = target_scale * torch.randn((5, 2), generator=g, dtype=torch.float64) if loss is squared_error else torch.tensor([0, 1, 1, 0, 1])
    return net, Batch(x, y, loss)


def flat(d):
    return torch.cat([v.reshape(-1) for v in d.values()])


def stacked(estimates: dict[str, torch.Tensor], n: int) -> torch.Tensor:
    """``(n, d)`` from estimates with a leading draw dimension."""
    return torch.cat([v.reshape(n, -1) for v in estimates.values()], 1)


def draws(rule, net, batch, n):
    return stacked(rule.estimates(net, batch, n)[0], n)


def z_scores(est, target):
    return (est.mean(0) - target) / (est.std(0) / est.shape[0] ** 0.5)


def test_enumerated_expected_loss_matches_an_independent_sum_over_states():
    net, batch = problem()
    total = torch.zeros((), dtype=torch.float64)
    for h in binary_states(3):  # loop over the 8 states, written out independently of the model's batched sum
        p = torch.sigmoid(net.logits(batch.x))
        prob = (p**h * (1 - p) ** (1 - h)).prod(1)
        out = net.readout(h).expand(5, -1)
        total = total + (prob * 0.5 * (out - batch.y).square().sum(1)).mean()
    torch.testing.assert_close(net.expected_loss(batch), total, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", [squared_error, cross_entropy])
@pytest.mark.parametrize("baseline", ["none", "moving_average", "critic"])
def test_unbiased_for_the_exact_gradient_with_any_sample_independent_baseline(loss, baseline):
    net, batch = problem(loss)
    rule = Reinforce(baseline=baseline)
    rule.setup(net, torch.Generator().manual_seed(11))
    if baseline == "critic":  # a critic with arbitrary weights is still a sample-independent baseline
        rule.critic = torch.tensor([0.5, -1.0, 2.0, 0.3, 1.5], dtype=torch.float64)
    est = draws(rule, net, batch, 20000)
    one = flat(rule.estimate(net, batch))  # the unbatched call gives one estimate of the same shape
    assert one.shape == est[0].shape
    exact = flat(net.reference_gradient(batch))
    assert exact.numel() == 23
    assert float(z_scores(est, exact).abs().max()) < 4.5


def test_a_baseline_that_depends_on_the_sample_is_biased():
    # guard: c_b = half the sampled example's own loss rescales the score term by 1/2 -> far from the gradient
    net, batch = problem()
    h, p = net.sample(batch.x, torch.Generator().manual_seed(2), 20000)
    p = p.detach()
    _, own = score_function_estimate(net, batch, h, p, torch.zeros(20000, 5, dtype=torch.float64))
    est = stacked(score_function_estimate(net, batch, h, p, 0.5 * own)[0], 20000)
    unbiased = stacked(score_function_estimate(net, batch, h, p, torch.zeros(20000, 5, dtype=torch.float64))[0], 20000)
    exact = flat(net.reference_gradient(batch))
    assert float(z_scores(unbiased, exact).abs().max()) < 4.5  # the same samples with a valid baseline pass
    assert float(z_scores(est, exact).abs().max()) > 8


def test_the_learned_critic_and_the_moving_average_reduce_variance():
    # targets far apart make the expected loss depend on the input: what an input-dependent critic can learn
    net, batch = problem(target_scale=6.0)
    exact = flat(net.reference_gradient(batch))
    variance = {}
    for baseline in ("none", "moving_average", "critic"):
        rule = Reinforce(baseline=baseline, critic_lr=0.03)
        rule.setup(net, torch.Generator().manual_seed(5))
        for _ in range(3000):  # the baselines learn on the fixed batch (the network itself is not updated)
            rule.after_step(net, batch, rule.estimate(net, batch))
        variance[baseline] = M.estimate_variance(draws(rule, net, batch, 4000), exact)
    # measured (seeded): none 9.47, moving average 1.93, critic 0.90
    assert variance["critic"] < 0.6 * variance["moving_average"], variance
    assert variance["moving_average"] < 0.5 * variance["none"], variance


def test_read_out_part_is_the_pathwise_gradient_at_the_sample():
    net, batch = problem()
    h = torch.tensor([[1.0, 0, 1], [0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 0, 0]], dtype=torch.float64)
    p = torch.sigmoid(net.logits(batch.x)).detach()
    est, losses = score_function_estimate(net, batch, h, p, torch.zeros(5, dtype=torch.float64))
    e = net.readout(h).detach() - batch.y  # dL_b/d out for 1/2 |e|^2
    torch.testing.assert_close(est["layers.output.weight"], e.t().mm(h) / 5, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(est["layers.hidden1.weight"], ((losses / 5).unsqueeze(1) * (h - p)).t().mm(batch.x),
                               rtol=1e-12, atol=1e-12)


def test_bad_settings_are_one_paragraph_errors():
    with pytest.raises(BioplausError, match="baseline"):
        Reinforce(baseline="mean")
    with pytest.raises(BioplausError, match="n_hidden"):
        stochastic_spec_from_dict({"kind": "stochastic", "n_in": 4, "n_hidden": 40, "n_out": 2}, "models/x.toml", "x")


def test_the_stochastic_kind_runs_in_the_run_loop_with_estimator_curves():
    from bioplaus import Protocol, models, rules, tasks
    from bioplaus.train import train_run

    spec = models.kind("stochastic").from_dict({"kind": "stochastic", "n_in": 64, "n_hidden": 4, "n_out": 10}, "test", "sbn4")
    p = Protocol(name="sbn", task=tasks.Digits(), model=spec, steps=3, batch_size=20, record_every=1,
                 rules=[rules.Backprop(), rules.Reinforce(baseline="critic", estimator_samples=8), rules.Relax(estimator_samples=8)],
                 metrics=["loss", "update_angle", "estimate_bias_angle", "estimate_variance"])
    for condition in ("backprop", "reinforce (critic)", "relax"):
        rows = train_run(p, condition, 0).rows
        angles = [r[4] for r in rows if r[2] == "update_angle" and r[3] == "all"]
        assert len(angles) == 4 and all(math.isfinite(a) for a in angles)
        if condition == "backprop":
            assert max(angles) < 1e-3  # the rule applies the enumerated reference itself
        else:
            assert sorted({r[0] for r in rows if r[2] == "estimate_bias_angle"}) == [1, 2, 4, 8]
