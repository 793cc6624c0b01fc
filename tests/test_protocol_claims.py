"""The shipped protocols' claims fail when the effect they claim is absent (learning switched off)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bioplaus.execute import run_protocol
from bioplaus.protocol import load_protocol
from bioplaus.report import claim_verdicts
from bioplaus.store import Store

PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"


def verdicts_with_learning_off(tmp_path: Path, name: str, **overrides) -> dict[str, str]:
    """Run the protocol's quick version with a learning rate of 0 and return ``statement -> verdict``."""
    protocol = load_protocol(PROTOCOLS / f"{name}.py").quick_version()
    opt_name, opt_kwargs = protocol.optimizer
    off = dataclasses.replace(protocol, optimizer=(opt_name, {**opt_kwargs, "lr": 1e-12}), **overrides)
    with Store(tmp_path / "s.sqlite") as store:
        run_protocol(off, store, workers=1, device="cpu", progress=False, executor="serial")
        return {c.statement(): v.verdict for c, v in claim_verdicts(store, off, quick=True)}


def test_lillicrap_claims_fail_with_learning_switched_off(tmp_path):
    got = verdicts_with_learning_off(tmp_path, "lillicrap2016_linear", steps=120, record_every=40, seeds=[0])
    angle = "update_angle[hidden1] of feedback_alignment"
    # the angle starts near 90 either way; that it falls and ends below 45 is the effect, and fails here
    assert got["update_angle[hidden1] at first of feedback_alignment = 90 ± 10"] == "pass"
    assert got[f"{angle} falls from first to last by > 30 in every seed"] == "fail"
    assert got[f"{angle} < 45"] == "fail"
    assert got["test_loss: feedback_alignment / shallow <= 0.1"] == "fail"


def test_fa_family_claims_fail_when_no_hidden_layer_learns(tmp_path):
    """With learning off every condition stays at chance: no rule beats read-out only, no angle falls."""
    for name in ("fa_digits", "nokland2016_dfa"):
        got = verdicts_with_learning_off(tmp_path / name, name, steps=40, record_every=20, seeds=[0, 1])
        checked = {s: v for s, v in got.items() if v not in ("full length only", "not checkable")}
        assert checked and all(v == "fail" for v in checked.values()), got


def test_werfel_learning_claims_fail_with_learning_switched_off(tmp_path):
    """The speed orderings and backprop's fall need learning; the estimator statistics are measured at the initial
    weights (they are about the estimators, not about learning) and hold either way."""
    got = verdicts_with_learning_off(tmp_path, "werfel2005_perturbation", steps=200, record_every=100, seeds=[0])
    assert got["test_loss: weight_perturbation > node_perturbation, seed by seed"] == "fail"
    assert got["test_loss: node_perturbation > backprop, seed by seed"] == "fail"
    assert got["test_loss of backprop falls from first to last by > 10 in every seed"] == "fail"
    assert got["estimate_variance: node_perturbation / weight_perturbation <= 0.2"] == "pass"


def test_akrout_claims_fail_with_learning_switched_off(tmp_path):
    """With learning off KP's B does not learn either (its optimizer is the forward weights'): its read-out angle
    stays with FA's, and no rule beats the baselines. (KP within 1 point of backprop holds trivially at chance:
    it reads only together with the baseline orderings.)"""
    got = verdicts_with_learning_off(tmp_path, "akrout2019_digits", steps=40, record_every=20, seeds=[0, 1])
    assert got["weight_angle[output]: feedback_alignment > each of kolen_pollack, weight_mirror + 20"] == "fail"
    baselines = [s for s in got if s.startswith("test_accuracy: ") and "shallow, linear + " in s]
    assert baselines and all(got[s] == "fail" for s in baselines), got
