"""Each kind of claim passes on data that satisfy it and fails on data that do not (constructed metric rows)."""

from __future__ import annotations

import pandas as pd
import pytest

from bioplaus.claims import (
    Bound,
    Limit,
    Measurements,
    Near,
    NotCheckable,
    Ordering,
    PublishedTarget,
    Ratio,
    Trend,
    Value,
    describe,
    evaluate_claims,
)
from bioplaus.errors import BioplausError

COMMON = dict(paper="Somebody 2020", where="Fig. 1", proxy=True)


def rows(series: dict[str, dict[int, list[float]]], metric: str = "acc", layer: str = "all", rule: dict | None = None) -> pd.DataFrame:
    """Metric rows: ``series[condition][seed]`` is the value at steps 0, 10, 20, ..."""
    out = []
    for cond, seeds in series.items():
        for seed, values in seeds.items():
            for i, v in enumerate(values):
                out.append(dict(protocol="p", condition=cond, rule=(rule or {}).get(cond, cond), seed=seed, step=10 * i,
                                epoch=0, metric=metric, layer=layer, value=v, run_id=0, status="done"))
    return pd.DataFrame(out)


def verdict(claim, df, quick=False):
    return claim.evaluate(Measurements(df), quick=quick)


NETS = rows({"backprop": {0: [0.1, 0.90], 1: [0.1, 0.92], 2: [0.1, 0.91]},
             "shallow": {0: [0.1, 0.60], 1: [0.1, 0.62], 2: [0.1, 0.61]}})


def test_value_and_bound():
    assert verdict(Value(condition="backprop", metric="acc", value=0.9, tolerance=0.02, **COMMON), NETS).verdict == "pass"
    assert verdict(Value(condition="shallow", metric="acc", value=0.9, tolerance=0.02, **COMMON), NETS).verdict == "fail"
    assert verdict(Bound(condition="backprop", metric="acc", op=">", bound=0.85, **COMMON), NETS).verdict == "pass"
    assert verdict(Bound(condition="shallow", metric="acc", op=">", bound=0.85, **COMMON), NETS).verdict == "fail"
    # the mean passes, one seed does not
    assert verdict(Bound(condition="backprop", metric="acc", op=">", bound=0.905, **COMMON), NETS).verdict == "pass"
    assert verdict(Bound(condition="backprop", metric="acc", op=">", bound=0.905, per_seed=True, **COMMON), NETS).verdict == "fail"
    # read at the first recorded step instead of the last
    assert verdict(Bound(condition="backprop", metric="acc", op="<", bound=0.2, at="first", **COMMON), NETS).verdict == "pass"
    # or the mean over recorded steps: (0.1 + 0.91) / 2 = 0.505 per seed on average
    assert verdict(Bound(condition="backprop", metric="acc", op="<", bound=0.51, at="mean", **COMMON), NETS).verdict == "pass"
    assert verdict(Bound(condition="backprop", metric="acc", op="<", bound=0.5, at="mean", **COMMON), NETS).verdict == "fail"


def test_ordering_fails_with_the_conditions_swapped_or_the_margin_too_large():
    ok = Ordering(metric="acc", lower="shallow", higher="backprop", margin=0.2, **COMMON)
    v = verdict(ok, NETS)
    assert ok.statement() == "acc: backprop > shallow + 0.2"
    assert v.verdict == "pass" and "backprop 0.91 ± 0.01 (n=3)" in v.measured and "shallow 0.61" in v.measured
    assert verdict(Ordering(metric="acc", lower="backprop", higher="shallow", **COMMON), NETS).verdict == "fail"
    assert verdict(Ordering(metric="acc", lower="shallow", higher="backprop", margin=0.35, **COMMON), NETS).verdict == "fail"


def test_ordering_compares_each_condition_never_their_pool():
    # fa beats shallow, dfa does not; pooled, fa and dfa together would still beat it
    df = rows({"fa": {0: [0.95], 1: [0.95], 2: [0.95]}, "dfa": {0: [0.55], 1: [0.55], 2: [0.55]},
               "shallow": {0: [0.6], 1: [0.6], 2: [0.6]}})
    assert verdict(Ordering(metric="acc", lower="shallow", higher=["fa", "dfa"], **COMMON), df).verdict == "fail"
    assert verdict(Ordering(metric="acc", lower="shallow", higher="fa", **COMMON), df).verdict == "pass"


def test_ordering_seed_by_seed():
    # the means are ordered, but in seed 1 the order is reversed
    df = rows({"a": {0: [0.0], 1: [0.5], 2: [0.0]}, "b": {0: [1.0], 1: [0.4], 2: [1.0]}})
    assert verdict(Ordering(metric="acc", lower="a", higher="b", **COMMON), df).verdict == "pass"
    assert verdict(Ordering(metric="acc", lower="a", higher="b", per_seed=True, **COMMON), df).verdict == "fail"


def test_near_and_ratio():
    df = rows({"kp": {0: [0.905], 1: [0.9], 2: [0.91]}, "backprop": {0: [0.91], 1: [0.91], 2: [0.91]},
               "fa": {0: [0.85], 1: [0.86], 2: [0.84]}})
    assert verdict(Near(condition="kp", reference="backprop", metric="acc", tolerance=0.01, **COMMON), df).verdict == "pass"
    assert verdict(Near(condition="fa", reference="backprop", metric="acc", tolerance=0.01, **COMMON), df).verdict == "fail"
    loss = rows({"fa": {0: [1.0, 0.02]}, "backprop": {0: [1.0, 0.01]}}, metric="loss")
    assert verdict(Ratio(condition="fa", reference="backprop", metric="loss", at_most=3, **COMMON), loss).verdict == "pass"
    assert verdict(Ratio(condition="fa", reference="backprop", metric="loss", at_most=1.5, **COMMON), loss).verdict == "fail"
    zero = rows({"fa": {0: [0.0]}, "backprop": {0: [0.0]}}, metric="loss")
    assert verdict(Ratio(condition="fa", reference="backprop", metric="loss", at_most=3, **COMMON), zero).verdict == "not checkable"


def test_trend_falls_and_fails_when_flat():
    falling = rows({"fa": {0: [90, 60, 30], 1: [91, 70, 35], 2: [89, 50, 40]}}, metric="angle")
    flat = rows({"fa": {0: [90, 89, 91], 1: [91, 90, 88], 2: [89, 92, 90]}}, metric="angle")
    claim = Trend(condition="fa", metric="angle", direction="falls", by=20, **COMMON)
    assert verdict(claim, falling).verdict == "pass"
    assert verdict(claim, flat).verdict == "fail"
    assert verdict(Trend(condition="fa", metric="angle", direction="rises", **COMMON), falling).verdict == "fail"
    # over estimator statistics stored with step = m: from m = 10 to m = 20
    assert verdict(Trend(condition="fa", metric="angle", start=10, end=20, by=5, **COMMON), falling).verdict == "pass"


def test_limit_needs_the_gap_to_shrink_and_end_within_tolerance():
    df = rows({"beta=0.5": {0: [0.4]}, "beta=0.2": {0: [0.15]}, "beta=0.05": {0: [0.03]}}, metric="err")
    along = ("beta=0.5", "beta=0.2", "beta=0.05")
    assert verdict(Limit(along=along, metric="err", limit=0, tolerance=0.05, **COMMON), df).verdict == "pass"
    assert verdict(Limit(along=along[::-1], metric="err", limit=0, tolerance=0.5, **COMMON), df).verdict == "fail"
    assert verdict(Limit(along=along, metric="err", limit=0, tolerance=0.01, **COMMON), df).verdict == "fail"


def test_published_target_reads_one_condition_and_refuses_a_pool():
    df = rows({"fa": {0: [40.0], 1: [42.0]}, "fa wide": {0: [80.0], 1: [82.0]}}, metric="angle",
              rule={"fa": "feedback_alignment", "fa wide": "feedback_alignment"})
    by_label = PublishedTarget(metric="angle", value="< 45", rule="fa", **COMMON)
    assert verdict(by_label, df).verdict == "pass"
    pooled = PublishedTarget(metric="angle", value="< 45", rule="feedback_alignment", **COMMON)
    v = verdict(pooled, df)
    assert v.verdict == "not checkable" and "2 conditions" in v.reason
    words = PublishedTarget(metric="angle", value="shrinks", rule="fa", **COMMON)
    assert verdict(words, df).verdict == "not checkable"
    assert verdict(PublishedTarget(metric="angle", value="< 45", rule="bp", **COMMON), df).verdict == "error"


def test_when_full_and_quick():
    full_only = Bound(condition="backprop", metric="acc", op=">", bound=0.99, when="full", **COMMON)
    quick_only = Bound(condition="backprop", metric="acc", op=">", bound=0.5, when="quick", **COMMON)
    quick = evaluate_claims([full_only, quick_only], Measurements(NETS), quick=True)
    assert [v.verdict for _, v in quick] == ["full length only", "pass"]
    assert "0.91" in quick[0][1].measured  # the quick run's number is still shown
    absent = Bound(condition="long delay", metric="acc", op=">", bound=0.5, when="full", **COMMON)
    assert absent.evaluate(Measurements(NETS), quick=True).verdict == "full length only"  # not in the quick run
    assert absent.evaluate(Measurements(NETS), quick=False).verdict == "error"
    full = evaluate_claims([full_only, quick_only], Measurements(NETS), quick=False)
    assert [(c, v.verdict) for c, v in full] == [(full_only, "fail")]


def test_missing_data_not_checkable_and_seeds():
    v = verdict(Bound(condition="nonesuch", metric="acc", op=">", bound=0, **COMMON), NETS)
    assert v.verdict == "error" and "nonesuch" in v.reason and "backprop" in v.reason
    assert verdict(NotCheckable(claim="looks nicer", reason="a matter of taste", **COMMON), NETS).verdict == "not checkable"
    # only the protocol's own seeds are read
    two = Measurements(NETS, seeds=[0, 1])
    assert list(two.at("backprop", "acc").index) == [0, 1]
    assert describe(two.at("backprop", "acc").to_numpy()) == "0.91 (n=2)"  # no s.d. below three seeds


def test_bad_claims_are_clear_errors():
    with pytest.raises(BioplausError, match="'op'"):
        Bound(condition="a", metric="acc", op="=<", bound=1, **COMMON)
    with pytest.raises(BioplausError, match="both lower and higher"):
        Ordering(metric="acc", lower="a", higher=["a", "b"], **COMMON)
    with pytest.raises(BioplausError, match="'when'"):
        Value(condition="a", metric="acc", value=1, tolerance=0.1, when="sometimes", **COMMON)
    with pytest.raises(BioplausError, match="'along'"):
        Limit(along=["a"], metric="acc", limit=0, tolerance=0.1, **COMMON)


def test_a_claim_about_the_papers_data_is_not_checkable_on_the_stand_in():
    mnist = Bound(condition="backprop", metric="acc", op=">", bound=0.5, needs_data_dir=True, **COMMON)
    stand_in = verdict(mnist, NETS)
    assert stand_in.verdict == "not checkable" and "--data-dir" in stand_in.reason and "0.91" in stand_in.measured
    assert mnist.evaluate(Measurements(NETS), data_dir="/data/mnist").verdict == "pass"


def test_a_sum_of_metrics_is_read_seed_by_seed():
    df = pd.concat([rows({"additive": {0: [0.1, 0.5], 1: [0.1, 0.45]}}, metric="near_zero"),
                    rows({"additive": {0: [0.1, 0.3], 1: [0.1, 0.2]}}, metric="near_max")])
    both = ("near_zero", "near_max")
    claim = Bound(condition="additive", metric=both, op=">=", bound=0.7, per_seed=True, **COMMON)
    assert claim.statement() == "every seed's near_zero + near_max of additive >= 0.7"
    assert verdict(claim, df).verdict == "fail"  # seed 1: 0.65
    assert verdict(Bound(condition="additive", metric=both, op=">=", bound=0.7, **COMMON), df).verdict == "pass"  # mean 0.725
