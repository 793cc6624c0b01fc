"""Persistent ES against the full-unroll gradient (Vicol, Metz & Sohl-Dickstein 2021) on Tallec & Ollivier's influence
balancing, where theta enters the dynamics linearly and the loss is quadratic: PES's smoothed loss differs from the loss by
a constant, so its mean is the BPTT gradient; truncated ES is biased (the guard).

z-test of the mean of 200 estimates of d L / d theta: for an unbiased estimator P(|z| > 4) = 6.3e-5. Seeded: deterministic.
"""

from __future__ import annotations

import pytest
import torch

from bioplaus import models, tasks
from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rules.persistent_evolution_strategies import PersistentEvolutionStrategies


def influence_problem():
    net = models.build(models.load("influence_balancing"), torch.Generator().manual_seed(0))
    x, y = tasks.InfluenceBalancing(length=20, burn_in=5).sample(torch.Generator().manual_seed(0), 1)
    return net, Batch(x.double(), y.double(), tasks.sequence_squared_error)


def theta_component(net, estimate):
    """d L / d theta read from a projected estimate (``b = theta s``): ``s . b-column / |s|^2``."""
    s = torch.sign(net.w[:, -1].detach())
    return float((s * net.project(estimate)["recurrent.weight"][:, -1]).sum() / s.square().sum())


def z_score(rule, net, batch, n=200):
    rule.setup(net, torch.Generator().manual_seed(1))
    v = torch.tensor([theta_component(net, rule.estimate(net, batch)) for _ in range(n)], dtype=torch.float64)
    exact = theta_component(net, net.reference_gradient(batch))
    return (float(v.mean()) - exact) / (float(v.std()) / n**0.5)


def test_pes_is_unbiased_for_the_full_unroll_gradient_and_truncated_es_is_not():
    net, batch = influence_problem()
    pes = z_score(PersistentEvolutionStrategies(sigma=0.01, population=16, k=5), net, batch)
    tes = z_score(PersistentEvolutionStrategies(sigma=0.01, population=16, k=5, persistent=False), net, batch)
    # measured (seeded): PES mean 23,548 +- 738 (s.e.) against 24,124 (z = -0.8); truncated ES 5,730 +- 111 (z ~ -166)
    assert abs(pes) < 4, pes
    assert abs(tes) > 8, tes


def test_one_truncation_spanning_the_sequence_makes_pes_and_truncated_es_the_same_estimator():
    net, batch = influence_problem()
    a, b = (PersistentEvolutionStrategies(sigma=0.01, population=8, k=20, persistent=p) for p in (True, False))
    a.setup(net, torch.Generator().manual_seed(3))
    b.setup(net, torch.Generator().manual_seed(3))
    ea, eb = a.estimate(net, batch), b.estimate(net, batch)
    for key in ea:
        torch.testing.assert_close(ea[key], eb[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs, field", [({"population": 5}, "population"), ({"k": 0}, "k"), ({"sigma": 0}, "sigma")])
def test_bad_settings_are_one_paragraph_errors(kwargs, field):
    with pytest.raises(BioplausError, match=field):
        PersistentEvolutionStrategies(**kwargs)


def test_runs_in_the_run_loop_on_influence_balancing():
    from bioplaus import Protocol
    from bioplaus.train import train_run

    p = Protocol(name="pes", task=tasks.InfluenceBalancing(length=20, burn_in=5), model="influence_balancing", steps=3,
                 batch_size=1, record_every=1, optimizer=("sgd", {"lr": 1e-5}), metrics=["loss", "update_angle"],
                 rules=[PersistentEvolutionStrategies(sigma=0.01, population=8, k=5)])
    rows = train_run(p, "persistent_evolution_strategies", 0).rows
    angles = [r[4] for r in rows if r[2] == "update_angle" and r[3] == "all"]
    assert len(angles) == 4 and all(min(abs(a), abs(a - 180)) < 1e-6 for a in angles)  # a scalar theta: 0 or 180 deg
