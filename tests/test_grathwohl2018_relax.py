"""The RELAX toy problem (Grathwohl et al. 2018, Fig. 1) against closed forms: E[(b - t)^2] = t^2 + theta (1 - 2t),
its gradient theta (1 - theta) (1 - 2t) in the logit, REINFORCE's variance theta (1 - theta) [(1 - theta) f(1)^2 +
theta f(0)^2] - g^2; the estimators are unbiased through the rules' own interface; measuring the variance does
not change a run; and the protocol's claims on theta fail with learning off.

z-tests: P(|z| > 4) = 6.3e-5 for an unbiased estimator. Seeded, so deterministic.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from bioplaus import models
from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.metrics.probes import Observation, PROBES
from bioplaus.rules.reinforce import Reinforce
from bioplaus.rules.relax import Relax
from bioplaus.tasks import BernoulliTarget
from bioplaus.tasks.bernoulli_target import summed_squared_error

T = 0.499
PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"


def toy(phi: float):
    net = models.build(models.load("relax_toy"), torch.Generator().manual_seed(0)).double()
    with torch.no_grad():
        net.layers["hidden1"].bias.fill_(phi)
    x = torch.zeros((1, 1), dtype=torch.float64)
    return net, Batch(x, torch.full((1, 1), T, dtype=torch.float64), summed_squared_error)


def closed_form(phi: float) -> tuple[float, float, float]:
    """theta, the expected loss and its gradient in phi."""
    theta = 1 / (1 + math.exp(-phi))
    return theta, T**2 + theta * (1 - 2 * T), theta * (1 - theta) * ((1 - T) ** 2 - T**2)


@pytest.mark.parametrize("phi", [0.0, -2.0, 3.0])
def test_the_model_and_task_give_the_closed_forms(phi):
    net, batch = toy(phi)
    theta, loss, grad = closed_form(phi)
    ref = net.reference_gradient(batch)
    assert set(ref) == {"layers.hidden1.weight", "layers.hidden1.bias"}  # no read-out parameters
    assert math.isclose(float(ref["layers.hidden1.bias"]), grad, rel_tol=1e-9)
    assert float(ref["layers.hidden1.weight"]) == 0.0  # the input is 0
    inst = BernoulliTarget(T).instantiate(torch.Generator().manual_seed(0), None, "cpu", 1)
    got = inst.evaluate(net.float())
    assert math.isclose(got["firing_probability"], theta, rel_tol=1e-6)
    assert math.isclose(got["test_loss"], loss, rel_tol=1e-6)
    assert math.isclose(got["loss_gap"], theta * (1 - 2 * T), rel_tol=1e-3, abs_tol=1e-9)


@pytest.mark.parametrize("rule", [Reinforce(), Reinforce(baseline="moving_average"), Relax(control="rebar", width=4),
                                  Relax(control="relax", width=4)], ids=lambda r: r.label)
def test_the_rules_are_unbiased_on_the_toy_problem(rule):
    phi, n = -0.7, 100_000
    net, batch = toy(phi)
    rule.setup(net, torch.Generator().manual_seed(3))
    if isinstance(rule, Relax):  # a fixed random control (unbiased whatever it is)
        g = torch.Generator().manual_seed(9)
        with torch.no_grad():
            for p in rule.control.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    if isinstance(rule, Reinforce) and rule.baseline == "moving_average":
        rule.average = 0.2  # a moving average somewhere on its way (any value not depending on the sample)
    draws = rule.estimates(net, batch, n)
    est = (draws[0] if isinstance(draws, tuple) else draws)["layers.hidden1.bias"].reshape(n).detach()
    z = (float(est.mean()) - closed_form(phi)[2]) / (float(est.std()) / n**0.5)
    assert abs(z) < 4, z


def test_the_probe_gives_reinforces_closed_form_variance_and_an_unbiased_z():
    phi = 0.4
    net, batch = toy(phi)
    theta, _, grad = closed_form(phi)
    f1, f0 = (1 - T) ** 2, T**2
    variance = theta * (1 - theta) * ((1 - theta) * f1**2 + theta * f0**2) - grad**2
    rule = Reinforce(variance_draws=20000)
    rule.setup(net, torch.Generator().manual_seed(1))
    rule.estimate(net, batch)
    obs = Observation(loss=0.0, estimate=None, reference=net.reference_gradient(batch), groups={},
                      aux={"rule": rule.probe_values()})
    rows = {m: v for m, _, v in PROBES["estimator_spread"].fn(obs)}
    # ln of a sample variance of 20000 draws: s.e. about sqrt(2 / 20000) = 0.01 (kurtosis aside)
    assert abs(rows["estimate_log_variance"] - math.log(variance)) < 0.05, (rows, math.log(variance))
    assert abs(rows["estimate_bias_z"]) < 4
    # a biased estimator shows up: the same draws shifted by 10 standard errors
    shifted = {"estimate_draws": lambda: {k: v + 10 * variance**0.5 / 20000**0.5 for k, v in rule.probe_values()["estimate_draws"]().items()}}
    rows = {m: v for m, _, v in PROBES["estimator_spread"].fn(dataclasses.replace(obs, aux={"rule": shifted}))}
    assert rows["estimate_bias_z"] > 6


def test_measuring_the_variance_does_not_change_the_run():
    from bioplaus import Protocol, rules
    from bioplaus.train import train_run

    def theta_rows(metrics):
        p = Protocol(name="toy", task=BernoulliTarget(T), model="relax_toy", steps=40, batch_size=1, record_every=10,
                     rules=[rules.Relax(width=4, estimator_samples=0, variance_draws=20)], optimizer=("adam", {"lr": 0.05}),
                     metrics=metrics, divergence=None)
        return [r for r in train_run(p, "relax", 0).rows if r[2] == "firing_probability"]

    plain = theta_rows(["firing_probability"])
    measured = theta_rows(["firing_probability", "estimate_log_variance"])
    assert plain == measured and plain[-1][4] != plain[0][4]


def test_the_claims_on_theta_fail_with_learning_off(tmp_path):
    # "RELAX reaches the optimum" must not pass for free: at lr ~ 0 theta stays 1/2 and every claim on it fails
    from bioplaus.execute import run_protocol
    from bioplaus.protocol import load_protocol
    from bioplaus.report import claim_verdicts
    from bioplaus.store import Store

    protocol = load_protocol(PROTOCOLS / "grathwohl2018_relax.py")
    off = dataclasses.replace(protocol, optimizer=("adam", {"lr": 1e-12}), steps=50, record_every=25, seeds=range(1))
    with Store(tmp_path / "s.sqlite") as store:
        run_protocol(off, store, workers=1, device="cpu", progress=False, executor="serial")
        got = {c.statement(): v.verdict for c, v in claim_verdicts(store, off, quick=False)}
    on_theta = {s: v for s, v in got.items() if s.startswith("firing_probability") and "rebar >" not in s}
    assert on_theta and all(v == "fail" for v in on_theta.values()), got


@pytest.mark.slow
def test_the_quick_protocol_records_the_claimed_metrics_and_its_quick_claims_pass(tmp_path):
    from bioplaus.execute import run_protocol
    from bioplaus.protocol import load_protocol
    from bioplaus.report import claim_verdicts
    from bioplaus.store import Store

    quick = load_protocol(PROTOCOLS / "grathwohl2018_relax.py").quick_version()
    with Store(tmp_path / "s.sqlite") as store:
        run_protocol(quick, store, workers=1, device="cpu", progress=False, executor="serial")
        verdicts = [(c.statement(), v.verdict) for c, v in claim_verdicts(store, quick, quick=True)]
        recorded = set(store.metrics(protocol=quick.name)["metric"])
    assert {"firing_probability", "loss_gap", "estimate_log_variance", "estimate_bias_z"} <= recorded
    assert all(v in ("pass", "full length only") for _, v in verdicts), verdicts


def test_bad_settings_are_one_paragraph_errors():
    kind = models.kind("stochastic")
    base = {"kind": "stochastic", "n_in": 1, "n_hidden": 1, "n_out": 1}
    with pytest.raises(BioplausError, match="readout"):
        kind.from_dict({**base, "readout": "softmax"}, "models/x.toml", "x")
    with pytest.raises(BioplausError, match="n_out"):
        kind.from_dict({**base, "n_out": 2, "readout": "identity"}, "models/x.toml", "x")
    with pytest.raises(BioplausError, match="lr_scale"):
        kind.from_dict({**base, "lr_scale": -1.0}, "models/x.toml", "x")
    with pytest.raises(BioplausError, match="variance_draws"):
        Reinforce(variance_draws=1)
    with pytest.raises(BioplausError, match="variance_draws"):
        Relax(variance_draws=-3)
    with pytest.raises(BioplausError, match="target"):
        BernoulliTarget(target=1.5)
