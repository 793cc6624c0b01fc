"""Evolution strategies against mathematics (Salimans et al. 2017): unbiased for the gradient of the
Gaussian-smoothed loss, with the closed-form variance of the antithetic estimator on a quadratic.

The statistical checks compare the mean of ``n`` estimates with the target coordinate by coordinate:
``z = (mean - target) / standard error`` is close to N(0, 1) for an unbiased estimator, so with ``d``
coordinates ``P(max |z| > 4.5) <= d * 6.8e-6`` (at most 2e-4 for the ``d <= 30`` used here). The generators
are seeded, so each test is deterministic; the probability says how unlikely a pass by luck is.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from bioplaus import metrics as M
from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rate.feedforward import FeedforwardNet
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules.evolution_strategies import (
    EvolutionStrategies,
    antithetic_estimate,
    antithetic_noise,
    centred_ranks,
    layered_population_output,
    mirrored_population_output,
)
from bioplaus.tasks.base import cross_entropy, squared_error


def net_and_batch(sizes=(4, 3), activations=("linear",), batch=6, seed=0, loss=squared_error):
    spec = FeedforwardSpec(name="t", sizes=sizes, activations=activations, init="normal", init_scale=0.5)
    net = FeedforwardNet(spec, torch.Generator().manual_seed(seed)).double()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn((batch, sizes[0]), generator=g, dtype=torch.float64)
    y = torch.randn((batch, sizes[-1]), generator=g, dtype=torch.float64) if loss is squared_error \
        else torch.randint(0, sizes[-1], (batch,), generator=g)
    return net, Batch(x, y, loss)


def flat(d: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([v.reshape(-1) for v in d.values()])


def draws(rule, net, batch, n, seed=7):
    rule.setup(net, torch.Generator().manual_seed(seed))
    return torch.stack([flat(rule.estimate(net, batch)) for _ in range(n)]), flat(net.reference_gradient(batch))


def vector_draws(loss, theta, sigma, pairs, n, shaping=False, seed=3):
    """``n`` estimates ``(n, d)`` for a loss of a single parameter vector ``theta`` ``(d,)``."""
    g = torch.Generator().manual_seed(seed)
    score = lambda members: loss(members["t"])  # members["t"]: (N, d)
    return torch.stack([antithetic_estimate(score, {"t": theta}, sigma, pairs, g, shaping)["t"] for _ in range(n)])


def z_scores(est, target):
    return (est.mean(0) - target) / (est.std(0) / est.shape[0] ** 0.5)


@pytest.mark.parametrize("chunk_bytes", [None, 1])  # 1: the members' weights formed one pair at a time
@pytest.mark.parametrize("batch", [4, 12])  # below and above MATERIALISE_FROM_BATCH: both routes
@pytest.mark.parametrize("bias", [True, False])
def test_mirrored_population_output_equals_the_materialised_members(bias, batch, chunk_bytes, monkeypatch):
    if chunk_bytes is not None:
        monkeypatch.setattr("bioplaus.rules.evolution_strategies.CHUNK_BYTES", chunk_bytes)
    spec = FeedforwardSpec(name="t", sizes=(5, 7, 6, 3), activations=("tanh", "relu", "linear"), bias=bias)
    net = FeedforwardNet(spec, torch.Generator().manual_seed(0)).double()
    x = torch.randn((batch, 5), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    params = {k: v.detach() for k, v in net.named_parameters()}
    eps = antithetic_noise(params, 3, torch.Generator().manual_seed(2))
    members = {k: torch.cat([p + 0.3 * eps[k], p - 0.3 * eps[k]]) for k, p in params.items()}
    reference = layered_population_output(net, members, x)  # (6, batch, 3): the 3 "+" members, then the 3 "-"
    out = mirrored_population_output(net, params, eps, 0.3, x)  # (3, 2, batch, 3)
    torch.testing.assert_close(out[:, 0], reference[:3], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out[:, 1], reference[3:], rtol=1e-12, atol=1e-12)


def test_population_forward_equals_each_member_run_alone():
    net, batch = net_and_batch(sizes=(5, 7, 3), activations=("tanh", "linear"))
    params = {k: v.detach() for k, v in net.named_parameters()}
    g = torch.Generator().manual_seed(0)
    members = {k: p + torch.randn((4, *p.shape), generator=g, dtype=p.dtype) for k, p in params.items()}
    out = layered_population_output(net, members, batch.x)
    assert out.shape == (4, 6, 3)
    for i in range(4):
        alone = functional_call(net, {k: v[i] for k, v in members.items()}, (batch.x,))
        torch.testing.assert_close(out[i], alone, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.01, 1.0])
@pytest.mark.parametrize("population", [2, 8, 32])
def test_unbiased_on_a_quadratic_with_the_closed_form_variance(sigma, population):
    # one linear layer with squared error: the loss is exactly quadratic in the d = 15 parameters, so the smoothed
    # gradient is the exact gradient for every sigma, and tr Cov / |g|^2 = 2 (d + 1) / N whatever sigma
    net, batch = net_and_batch()
    est, g = draws(EvolutionStrategies(sigma=sigma, population=population), net, batch, 4000)
    d = g.numel()
    assert d == 15
    assert float(z_scores(est, g).abs().max()) < 4.5
    variance = M.estimate_variance(est, g)
    assert abs(variance / (2 * (d + 1) / population) - 1) < 0.1, variance


def test_error_of_the_mean_falls_like_one_over_sqrt_m():
    net, batch = net_and_batch()
    population, n = 8, 6400
    est, g = draws(EvolutionStrategies(sigma=0.1, population=population), net, batch, n)
    trace = 2 * (g.numel() + 1) / population * float(g.square().sum())  # tr Cov of one estimate, closed form
    for m in (16, 64, 256):
        means = est.reshape(n // m, m, -1).mean(1)  # disjoint blocks of m estimates
        mse = float((means - g).square().sum(1).mean())
        assert 0.75 < mse * m / trace < 1.33, (m, mse * m / trace)
    # the angle of the mean of m estimates follows atan sqrt((d - 1) / (N m / 2))
    d = g.numel()
    for m in (64, 1600):
        theory = math.degrees(math.atan(math.sqrt((d - 1) / (population * m / 2))))
        angles = [M.estimate_bias_angle(block, g) for block in est.reshape(n // m, m, -1)]
        assert 0.7 < sum(angles) / len(angles) / theory < 1.3, (m, sum(angles) / len(angles), theory)


def test_quartic_loss_gives_the_smoothed_gradient_not_the_exact_one():
    # on 1/4 sum theta^4 the Gaussian-smoothed gradient is theta^3 + 3 sigma^2 theta: this tests sigma's role
    theta = torch.tensor([1.0, -0.5, 0.8, -1.2, 0.3], dtype=torch.float64)
    sigma = 0.5
    est = vector_draws(lambda t: 0.25 * t.pow(4).sum(-1), theta, sigma, pairs=4, n=20000)
    smoothed = theta**3 + 3 * sigma**2 * theta
    assert float(z_scores(est, smoothed).abs().max()) < 4.5
    assert float(z_scores(est, theta**3).abs().max()) > 10  # the exact gradient is not what ES estimates


def test_fitness_shaping_on_a_linear_loss_points_along_the_gradient_but_is_not_in_gradient_units():
    g = torch.tensor([2.0, -1.0, 0.5, 0.0, 3.0, -0.7], dtype=torch.float64)
    theta = torch.zeros(6, dtype=torch.float64)
    norms = {}
    for sigma in (0.1, 1.0):
        est = vector_draws(lambda t: t @ g, theta, sigma, pairs=5, n=4000, shaping=True)
        # centred ranks are increasing in g^T eps and sum to zero: every shaped estimate has g^T g_hat >= 0
        assert bool((est @ g >= 0).all())
        assert M.estimate_bias_angle(est, g) < 2.0
        norms[sigma] = float(est.mean(0).norm())
    # ranks forget the loss's scale, so the estimate scales like 1/sigma: not the gradient's norm
    assert abs(norms[0.1] / norms[1.0] - 10) < 0.5
    assert abs(norms[1.0] / float(g.norm()) - 1) > 0.1


def test_fitness_shaping_is_biased_on_an_anisotropic_quadratic_where_plain_es_is_not():
    a = torch.tensor([1.0, 30.0, 1.0, 30.0], dtype=torch.float64)
    theta = torch.tensor([1.0, 0.1, -0.5, 0.05], dtype=torch.float64)
    g = a * theta
    loss = lambda t: 0.5 * (a * t * t).sum(-1)
    shaped = vector_draws(loss, theta, 1.0, pairs=5, n=8000, shaping=True)
    plain = vector_draws(loss, theta, 1.0, pairs=5, n=8000)
    assert M.estimate_bias_angle(shaped, g) > 1.0
    assert float(z_scores(plain, g).abs().max()) < 4.5


def test_centred_ranks():
    u = centred_ranks(torch.tensor([3.0, -1.0, 10.0, 0.0, 2.0]))
    torch.testing.assert_close(u, torch.tensor([0.25, -0.5, 0.5, -0.25, 0.0]))


def test_error_rate_fitness_needs_no_gradient_and_runs_batched():
    net, batch = net_and_batch(sizes=(5, 8, 3), activations=("tanh", "linear"), batch=30, loss=cross_entropy)
    rule = EvolutionStrategies(sigma=0.5, population=16, fitness="error_rate")
    rule.setup(net, torch.Generator().manual_seed(0))
    est = rule.estimate(net, batch)
    assert {k: v.shape for k, v in est.items()} == {k: v.shape for k, v in net.named_parameters()}
    assert bool(torch.isfinite(flat(est)).all())


@pytest.mark.parametrize("kwargs, field", [({"population": 7}, "population"), ({"population": 0}, "population"),
                                           ({"sigma": 0.0}, "sigma"), ({"fitness": "accuracy"}, "fitness")])
def test_bad_settings_are_one_paragraph_errors(kwargs, field):
    with pytest.raises(BioplausError, match=field):
        EvolutionStrategies(**kwargs)


def test_runs_in_the_run_loop_with_estimator_curves_against_m():
    from bioplaus import Protocol, tasks
    from bioplaus.train import train_run

    spec = FeedforwardSpec(name="small", sizes=(64, 8, 10), activations=("tanh", "linear"))
    p = Protocol(name="es", task=tasks.Digits(), model=spec, steps=2, batch_size=20, record_every=1,
                 rules=[EvolutionStrategies(sigma=0.01, population=8, estimator_samples=16)],
                 metrics=["loss", "update_angle", "estimate_bias_angle", "estimate_variance"])
    rows = train_run(p, "evolution_strategies", 0).rows
    assert sorted({r[0] for r in rows if r[2] == "estimate_bias_angle"}) == [1, 2, 4, 8, 16]
    assert len([r for r in rows if r[2] == "update_angle" and r[3] == "all"]) == 3


# -- the shared noise table (noise="table", the default) --------------------------------------------------------

def test_table_estimate_is_the_antithetic_estimate_of_its_window_and_reproducible():
    from bioplaus.rules.evolution_strategies import combine_pairs, table_window

    net, batch = net_and_batch(sizes=(5, 7, 3), activations=("tanh", "linear"))
    rule = EvolutionStrategies(sigma=0.1, population=6)
    rule.setup(net, torch.Generator().manual_seed(4))
    params = {k: v.detach() for k, v in net.named_parameters()}
    d = sum(p.numel() for p in params.values())
    assert rule.table.numel() >= 2 * 3 * d
    state = rule.generator.get_state()
    window, eps = table_window(rule.table, params, 3, rule.generator)
    assert window.shape == (3, d) and window.data_ptr() >= rule.table.data_ptr()  # a view into the table
    for k, p in params.items():  # the pairs' slices, in parameter order, do not overlap
        assert eps[k].shape == (3, *p.shape)
    assert torch.equal(torch.cat([e.reshape(3, -1) for e in eps.values()], 1), window)
    rule.generator.set_state(state)
    got = rule.estimate(net, batch)
    members = {k: torch.cat([p + 0.1 * eps[k], p - 0.1 * eps[k]]) for k, p in params.items()}
    losses = torch.stack([batch.loss(functional_call(net, {k: v[i] for k, v in members.items()}, (batch.x,)))
                          for i in range(6)])
    want = combine_pairs({k: e.clone() for k, e in eps.items()}, losses[:3], losses[3:], 0.1)
    for k in params:
        torch.testing.assert_close(got[k], want[k], rtol=1e-10, atol=1e-12)
    again = EvolutionStrategies(sigma=0.1, population=6)
    again.setup(net, torch.Generator().manual_seed(4))
    first = EvolutionStrategies(sigma=0.1, population=6)
    first.setup(net, torch.Generator().manual_seed(4))
    assert all(torch.equal(first.estimate(net, batch)[k], again.estimate(net, batch)[k]) for k in params)


def test_fresh_noise_is_unbiased_with_the_closed_form_variance_too():
    net, batch = net_and_batch()
    est, g = draws(EvolutionStrategies(sigma=0.1, population=8, noise="fresh"), net, batch, 4000)
    assert float(z_scores(est, g).abs().max()) < 4.5
    assert abs(M.estimate_variance(est, g) / (2 * (g.numel() + 1) / 8) - 1) < 0.1


def test_a_too_small_table_leaves_the_documented_error_floor():
    # with the least table (L = 2 pairs d) the mean of many estimates stops at an error of order |g| sqrt(d / L)
    # instead of falling like 1/sqrt(m): the reason for the default L = 2^22
    net, batch = net_and_batch()
    n = 6400
    small, g = draws(EvolutionStrategies(sigma=0.1, population=8, table_size=1), net, batch, n)
    large, _ = draws(EvolutionStrategies(sigma=0.1, population=8), net, batch, n)
    trace = 2 * (g.numel() + 1) / 8 * float(g.square().sum())  # tr Cov of one estimate
    floor_small = float((small.mean(0) - g).square().sum()) * n / trace  # ~1 if nothing but the 1/m variance is left
    floor_large = float((large.mean(0) - g).square().sum()) * n / trace
    assert floor_large < 3, floor_large
    assert floor_small > 10 * floor_large, (floor_small, floor_large)
