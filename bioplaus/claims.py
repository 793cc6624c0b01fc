"""Claims: a paper's result as a statement about named conditions that the program checks.

A claim names every condition it reads by its label (never a pool of conditions), the metric and layer, and the
recorded value it reads per seed (``at``: the last or first recorded step, the minimum, maximum or mean over steps, or the
value at one recorded step, e.g. ``m`` for estimator statistics). From those per-seed values it returns a
:class:`Verdict`: ``pass``, ``fail``, ``not checkable`` (with the reason), ``full length only`` (a claim that holds
only at full length, read in a ``--quick`` run) or ``error`` (the store lacks what the claim reads).

Kinds (each names the paper, the figure or table, and whether the run is a proxy):

* :class:`Value`: a number with a tolerance (mean over the seeds of one condition);
* :class:`Bound`: an inequality, ``mean < x`` (or every seed, ``per_seed=True``);
* :class:`Ordering`: conditions ordered by a margin, ``mean(lower) + margin < mean(higher)`` for every pair of one
  condition in ``lower`` and one in ``higher`` (or seed by seed); a rule against a baseline condition is one;
* :class:`Near` and :class:`Ratio`: a condition within a distance or a factor of another;
* :class:`Trend`: a metric falling (or rising) over the recorded steps of one condition, by a margin;
* :class:`Limit`: a metric approaching a limit along conditions ordered by a parameter (e.g. β → 0);
* :class:`NotCheckable`: a claim no program can check here, and why;
* :class:`PublishedTarget`: the original single-series target (``value`` as ``"< 90"`` or a number with
  ``tolerance``), read from one condition.

Means and standard deviations are over the seeds of one condition; a standard deviation is shown only for n >= 3.
"""

from __future__ import annotations

import abc
import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bioplaus.errors import BioplausError, allowed

VERDICTS = ("pass", "fail", "not checkable", "full length only", "error")
WHEN = ("always", "full", "quick")
OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one claim: ``verdict`` (one of ``VERDICTS``), the measured values in words, and the
    reason for anything but a plain pass or fail."""

    verdict: str
    measured: str = "-"
    reason: str = ""


class MissingData(LookupError):
    """The store holds no value for what a claim reads."""


class PooledConditions(LookupError):
    """A target's ``rule`` names more than one condition: reading it would pool them. ``args[0]``: their labels."""


def fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return str(x)
    a = abs(x)
    return f"{x:.2e}" if a != 0 and (a < 1e-2 or a >= 1e4) else f"{x:.3g}"


def describe(values: np.ndarray) -> str:
    """``mean ± s.d. (n=N)`` over seeds; the s.d. only for n >= 3 (two seeds say nothing about spread)."""
    n = len(values)
    if n >= 3:
        return f"{fmt(float(values.mean()))} ± {fmt(float(values.std(ddof=1)))} (n={n})"
    return f"{fmt(float(values.mean()))} (n={n})"


class Measurements:
    """Metric rows of one protocol's runs (the columns of :meth:`bioplaus.store.Store.metrics`), read per condition.

    ``seeds``: only these seeds are read (a protocol's own seeds), ``None`` for all in ``df``.
    """

    def __init__(self, df: pd.DataFrame, seeds: list[int] | None = None) -> None:
        if seeds is not None:
            df = df[df["seed"].isin(list(seeds))]
        self.df = df.sort_values(["condition", "seed", "metric", "layer", "step"])

    @classmethod
    def from_store(cls, store: Any, protocol: Any) -> Measurements:
        """The finished runs of ``protocol`` (a :class:`bioplaus.protocol.Protocol`) in ``store``, its seeds only."""
        return cls(store.metrics(protocol=protocol.name), seeds=list(protocol.seeds))

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(self.df["condition"]))

    def series(self, condition: str, metric: str, layer: str) -> pd.DataFrame:
        """Rows ``seed, step, value`` of one condition's metric and layer; :class:`MissingData` if there are none."""
        d = self.df[(self.df["condition"] == condition) & (self.df["metric"] == metric) & (self.df["layer"] == layer)]
        if d.empty:
            have = self.conditions()
            why = f"no condition '{condition}' (conditions: {', '.join(have) or 'none'})" if condition not in have else \
                f"condition '{condition}' recorded no {metric}[{layer}]"
            raise MissingData(why)
        return d[["seed", "step", "value"]]

    def at(self, condition: str, metric: str | tuple[str, ...], layer: str = "all", at: str | int = "last") -> pd.Series:
        """One value per seed (index: seed): at the ``last`` or ``first`` recorded step, the ``min``, ``max`` or ``mean``
        over recorded steps, or at recorded step ``at`` (an int). A tuple of metrics is read as their sum, seed by seed."""
        if not isinstance(metric, str):
            parts = [self.at(condition, m, layer, at) for m in metric]
            total = parts[0]
            for p in parts[1:]:
                total = total.add(p, fill_value=np.nan)
            return total.dropna()
        d = self.series(condition, metric, layer)
        g = d.groupby("seed")["value"]
        if at == "last":
            return g.last()
        if at == "first":
            return g.first()
        if at == "min":
            return g.min()
        if at == "max":
            return g.max()
        if at == "mean":
            return g.mean()
        if isinstance(at, int) and not isinstance(at, bool):
            s = d[d["step"] == at].groupby("seed")["value"].last()
            if s.empty:
                raise MissingData(f"condition '{condition}' recorded no {metric}[{layer}] at step {at}")
            return s
        raise BioplausError(f"claim field 'at' must be 'last', 'first', 'min', 'max', 'mean' or a recorded step (int); got {at!r}.")


def metric_label(metric: str | tuple[str, ...]) -> str:
    """A metric, or a sum of metrics (``("fraction_near_zero", "fraction_near_max")``), in words."""
    return metric if isinstance(metric, str) else " + ".join(metric)


def _check_text(kind: str, name: str, value: Any) -> None:
    if name == "metric" and isinstance(value, tuple) and value and all(isinstance(m, str) and m for m in value):
        return  # a sum of metrics, read per seed
    if not isinstance(value, str) or not value:
        raise BioplausError(f"{kind} field '{name}' must be a non-empty string (a condition label, metric or layer); got {value!r}.")


def _labels(kind: str, name: str, value: Any) -> tuple[str, ...]:
    labels = (value,) if isinstance(value, str) else tuple(value) if isinstance(value, (list, tuple)) else None
    if not labels or not all(isinstance(x, str) and x for x in labels):
        raise BioplausError(f"{kind} field '{name}' must be a condition label or a list of them; got {value!r}.")
    return labels


@dataclass(frozen=True, kw_only=True)
class Claim(abc.ABC):
    """What every claim states besides its test.

    Args:
        paper: the paper (``"Lillicrap et al. 2016"``); ``where``: its figure, table or section.
        proxy: whether the default run stands in for the published setting (other data, sizes or length).
        published: the paper's number or words, as it gives them.
        published_on: the task and model the paper measured on (``"MNIST, 784-1000-10 logistic"``).
        note: anything a reader needs to judge the verdict.
        when: ``"always"``; ``"full"``: holds only at full length (a ``--quick`` run reports ``full length only``
            and does not check it); ``"quick"``: a quick-run claim, checked only in ``--quick`` runs.
        needs_data_dir: the claim is about the paper's own data (e.g. an MNIST error rate), read from the task a
            :class:`bioplaus.tasks.ByDataDir` protocol runs with ``--data-dir``; without it, ``not checkable``.
    """

    paper: str
    where: str
    proxy: bool
    published: str = ""
    published_on: str = ""
    note: str = ""
    when: str = "always"
    needs_data_dir: bool = False

    def __post_init__(self) -> None:
        kind = type(self).__name__
        for name in ("paper", "where"):
            _check_text(kind, name, getattr(self, name))
        if not isinstance(self.proxy, bool):
            raise BioplausError(f"{kind} field 'proxy' must be True or False; got {self.proxy!r}.")
        if self.when not in WHEN:
            raise BioplausError(f"{kind} field 'when' must be one of {allowed(WHEN)}; got {self.when!r}.")

    @property
    def conditions(self) -> tuple[str, ...]:
        """The condition labels the claim reads."""
        return ()

    @abc.abstractmethod
    def statement(self) -> str:
        """The test applied, in words (``"test_accuracy of backprop > shallow + 0.05"``)."""

    @abc.abstractmethod
    def judge(self, data: Measurements) -> Verdict:
        """The verdict on ``data``; may raise :class:`MissingData`."""

    def evaluate(self, data: Measurements, quick: bool = False, data_dir: str | None = None) -> Verdict | None:
        """The verdict, ``full length only`` for a full-length claim in a quick run, ``None`` for a quick-run
        claim in a full run (it does not apply), ``error`` when the store lacks what the claim reads, ``not
        checkable`` for a claim about the paper's data in a run without ``data_dir``."""
        if self.when == "quick" and not quick:
            return None
        try:
            verdict = self.judge(data)
        except MissingData as e:
            if self.when == "full" and quick:  # e.g. conditions the quick run leaves out
                return Verdict("full length only", reason=f"claimed at full length; the quick run does not measure it ({e})")
            return Verdict("error", reason=f"not measured: {e}")
        if self.needs_data_dir and data_dir is None:
            return Verdict("not checkable", verdict.measured,
                           "a claim about the paper's own data; this run used the default stand-in (run with --data-dir)")
        if self.when == "full" and quick:
            return Verdict("full length only", verdict.measured,
                           "claimed at full length; the quick run's value is shown, not judged")
        return verdict


def _pass(ok: bool, measured: str, reason: str = "") -> Verdict:
    return Verdict("pass" if ok else "fail", measured, reason)


@dataclass(frozen=True, kw_only=True)
class Series:
    """One condition's series: ``metric`` of ``layer`` (``"all"``: all parameters), read ``at`` a step."""

    condition: str
    metric: str
    layer: str = "all"
    at: str | int = "last"

    def label(self) -> str:
        layer = "" if self.layer == "all" else f"[{self.layer}]"
        at = "" if self.at == "last" else f" at {self.at}"
        return f"{metric_label(self.metric)}{layer}{at} of {self.condition}"


@dataclass(frozen=True, kw_only=True)
class Value(Claim):
    """``|mean - value| <= tolerance`` over the seeds of ``condition``."""

    condition: str
    metric: str
    value: float
    tolerance: float
    layer: str = "all"
    at: str | int = "last"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("condition", "metric", "layer"):
            _check_text("Value", name, getattr(self, name))
        if not (isinstance(self.tolerance, (int, float)) and self.tolerance >= 0):
            raise BioplausError(f"Value field 'tolerance' must be a non-negative number; got {self.tolerance!r}.")

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.condition,)

    def statement(self) -> str:
        return f"{Series(condition=self.condition, metric=self.metric, layer=self.layer, at=self.at).label()} = {self.value:g} ± {self.tolerance:g}"

    def judge(self, data: Measurements) -> Verdict:
        v = data.at(self.condition, self.metric, self.layer, self.at).to_numpy()
        return _pass(abs(v.mean() - self.value) <= self.tolerance, describe(v))


@dataclass(frozen=True, kw_only=True)
class Bound(Claim):
    """``mean op bound`` over the seeds of ``condition`` (``op`` one of ``<``, ``<=``, ``>``, ``>=``);
    ``per_seed=True``: every seed satisfies it."""

    condition: str
    metric: str
    op: str
    bound: float
    layer: str = "all"
    at: str | int = "last"
    per_seed: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("condition", "metric", "layer"):
            _check_text("Bound", name, getattr(self, name))
        if self.op not in OPS:
            raise BioplausError(f"Bound field 'op' must be one of {allowed(OPS)}; got {self.op!r}.")

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.condition,)

    def statement(self) -> str:
        who = "every seed's " if self.per_seed else ""
        return f"{who}{Series(condition=self.condition, metric=self.metric, layer=self.layer, at=self.at).label()} {self.op} {self.bound:g}"

    def judge(self, data: Measurements) -> Verdict:
        v = data.at(self.condition, self.metric, self.layer, self.at).to_numpy()
        ok = bool(OPS[self.op](v, self.bound).all()) if self.per_seed else bool(OPS[self.op](v.mean(), self.bound))
        return _pass(ok, describe(v))


@dataclass(frozen=True, kw_only=True)
class Ordering(Claim):
    """Each condition in ``higher`` exceeds each in ``lower`` by more than ``margin``: ``mean(h) - mean(l) > margin``
    (per-condition means), or with ``per_seed=True`` seed by seed (the same seed in both). A rule against a
    read-out-only or learning-off baseline is ``Ordering(lower="shallow", higher="backprop", ...)`` for accuracy.
    """

    metric: str
    lower: str | tuple[str, ...]
    higher: str | tuple[str, ...]
    margin: float = 0.0
    layer: str = "all"
    at: str | int = "last"
    per_seed: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "lower", _labels("Ordering", "lower", self.lower))
        object.__setattr__(self, "higher", _labels("Ordering", "higher", self.higher))
        if set(self.lower) & set(self.higher):
            raise BioplausError(f"Ordering: a condition cannot be both lower and higher ({sorted(set(self.lower) & set(self.higher))}).")
        for name in ("metric", "layer"):
            _check_text("Ordering", name, getattr(self, name))

    @property
    def conditions(self) -> tuple[str, ...]:
        return (*self.lower, *self.higher)

    def statement(self) -> str:
        layer = "" if self.layer == "all" else f"[{self.layer}]"
        at = "" if self.at == "last" else f" at {self.at}"
        hi = self.higher[0] if len(self.higher) == 1 else f"each of {', '.join(self.higher)}"
        lo = self.lower[0] if len(self.lower) == 1 else f"each of {', '.join(self.lower)}"
        by = "" if not self.margin else f" {'+' if self.margin > 0 else '-'} {abs(self.margin):g}"
        seeds = ", seed by seed" if self.per_seed else ""
        return f"{metric_label(self.metric)}{layer}{at}: {hi} > {lo}{by}{seeds}"

    def judge(self, data: Measurements) -> Verdict:
        values = {c: data.at(c, self.metric, self.layer, self.at) for c in self.conditions}
        ok = True
        for lo in self.lower:
            for hi in self.higher:
                if self.per_seed:
                    both = values[lo].index.intersection(values[hi].index)
                    if both.empty:
                        raise MissingData(f"conditions '{lo}' and '{hi}' share no seed")
                    ok &= bool(((values[hi][both] - values[lo][both]) > self.margin).all())
                else:
                    ok &= bool(values[hi].mean() - values[lo].mean() > self.margin)
        return _pass(ok, "; ".join(f"{c} {describe(v.to_numpy())}" for c, v in values.items()))


@dataclass(frozen=True, kw_only=True)
class Near(Claim):
    """``|mean(condition) - mean(reference)| <= tolerance``: e.g. KP's accuracy within 1 point of backprop's."""

    condition: str
    reference: str
    metric: str
    tolerance: float
    layer: str = "all"
    at: str | int = "last"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("condition", "reference", "metric", "layer"):
            _check_text("Near", name, getattr(self, name))

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.condition, self.reference)

    def statement(self) -> str:
        layer = "" if self.layer == "all" else f"[{self.layer}]"
        return f"{metric_label(self.metric)}{layer}: |{self.condition} - {self.reference}| <= {self.tolerance:g}"

    def judge(self, data: Measurements) -> Verdict:
        a = data.at(self.condition, self.metric, self.layer, self.at).to_numpy()
        b = data.at(self.reference, self.metric, self.layer, self.at).to_numpy()
        return _pass(abs(a.mean() - b.mean()) <= self.tolerance, f"{self.condition} {describe(a)}; {self.reference} {describe(b)}")


@dataclass(frozen=True, kw_only=True)
class Ratio(Claim):
    """``mean(condition) / mean(reference) <= at_most`` (both means positive): e.g. FA's final loss within a
    factor of backprop's."""

    condition: str
    reference: str
    metric: str
    at_most: float
    layer: str = "all"
    at: str | int = "last"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("condition", "reference", "metric", "layer"):
            _check_text("Ratio", name, getattr(self, name))

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.condition, self.reference)

    def statement(self) -> str:
        layer = "" if self.layer == "all" else f"[{self.layer}]"
        return f"{metric_label(self.metric)}{layer}: {self.condition} / {self.reference} <= {self.at_most:g}"

    def judge(self, data: Measurements) -> Verdict:
        a = data.at(self.condition, self.metric, self.layer, self.at).to_numpy()
        b = data.at(self.reference, self.metric, self.layer, self.at).to_numpy()
        measured = f"{self.condition} {describe(a)}; {self.reference} {describe(b)}"
        if not (a.mean() > 0 and b.mean() > 0):
            return Verdict("not checkable", measured, "a ratio of means needs both means positive")
        return _pass(a.mean() / b.mean() <= self.at_most, f"{measured}; ratio {fmt(a.mean() / b.mean())}")


@dataclass(frozen=True, kw_only=True)
class Trend(Claim):
    """``metric`` of ``condition`` falls (``direction="falls"``) or rises from the ``start`` to the ``end`` recorded
    value by more than ``by`` (per-condition means over seeds; ``per_seed=True``: in every seed). ``start`` and
    ``end`` are read like ``at``; for estimator statistics stored with ``step = m``, a trend over m."""

    condition: str
    metric: str
    direction: str = "falls"
    by: float = 0.0
    layer: str = "all"
    start: str | int = "first"
    end: str | int = "last"
    per_seed: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("condition", "metric", "layer"):
            _check_text("Trend", name, getattr(self, name))
        if self.direction not in ("falls", "rises"):
            raise BioplausError(f"Trend field 'direction' must be one of 'falls', 'rises'; got {self.direction!r}.")

    @property
    def conditions(self) -> tuple[str, ...]:
        return (self.condition,)

    def statement(self) -> str:
        layer = "" if self.layer == "all" else f"[{self.layer}]"
        seeds = " in every seed" if self.per_seed else ""
        return f"{metric_label(self.metric)}{layer} of {self.condition} {self.direction} from {self.start} to {self.end} by > {self.by:g}{seeds}"

    def judge(self, data: Measurements) -> Verdict:
        s = data.at(self.condition, self.metric, self.layer, self.start)
        e = data.at(self.condition, self.metric, self.layer, self.end)
        both = s.index.intersection(e.index)
        change = (s[both] - e[both]) if self.direction == "falls" else (e[both] - s[both])
        ok = bool((change > self.by).all()) if self.per_seed else bool(change.mean() > self.by)
        return _pass(ok, f"{self.start} {describe(s.to_numpy())} -> {self.end} {describe(e.to_numpy())}")


@dataclass(frozen=True, kw_only=True)
class Limit(Claim):
    """Along ``conditions`` (ordered so that a parameter approaches its limit, e.g. β = 0.5, 0.2, 0.05), the mean of
    ``metric`` approaches ``limit``: ``|mean - limit|`` shrinks from each condition to the next, and the last is within
    ``tolerance`` of it."""

    along: tuple[str, ...]
    metric: str
    limit: float
    tolerance: float
    layer: str = "all"
    at: str | int = "last"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "along", _labels("Limit", "along", self.along))
        if len(self.along) < 2:
            raise BioplausError(f"Limit field 'along' must list at least two conditions, ordered towards the limit; got {self.along!r}.")
        for name in ("metric", "layer"):
            _check_text("Limit", name, getattr(self, name))

    @property
    def conditions(self) -> tuple[str, ...]:
        return self.along

    def statement(self) -> str:
        layer = "" if self.layer == "all" else f"[{self.layer}]"
        return f"{metric_label(self.metric)}{layer} -> {self.limit:g} along {' -> '.join(self.along)} (last within {self.tolerance:g})"

    def judge(self, data: Measurements) -> Verdict:
        values = [data.at(c, self.metric, self.layer, self.at).to_numpy() for c in self.along]
        gaps = [abs(v.mean() - self.limit) for v in values]
        ok = all(b < a for a, b in itertools.pairwise(gaps)) and gaps[-1] <= self.tolerance
        return _pass(ok, "; ".join(f"{c} {describe(v)}" for c, v in zip(self.along, values)))


@dataclass(frozen=True, kw_only=True)
class NotCheckable(Claim):
    """A claim no program can check here; ``reason`` says why in one line."""

    claim: str
    reason: str
    reads: tuple[str, ...] = ()

    @property
    def conditions(self) -> tuple[str, ...]:
        return tuple(self.reads)

    def statement(self) -> str:
        return self.claim

    def judge(self, data: Measurements) -> Verdict:
        return Verdict("not checkable", reason=self.reason)


_COMPARISON = re.compile(r"\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*%?\s*")
_NUMBER = re.compile(r"\s*~?\s*([-+0-9.eE]+)\s*%?\s*")


@dataclass(frozen=True, kw_only=True)
class PublishedTarget(Claim):
    """The published result a protocol reproduces, read from one series (the original kind of claim).

    ``value`` is the number as the paper gives it, optionally with a comparison (``"< 90"``, ``"> 0.9"``);
    ``rule`` names the condition (its label, or a rule name that exactly one condition has) and ``layer`` the
    series compared (last recorded step, mean over seeds). ``tolerance``: for a plain number, the largest
    ``|measured - value|`` that counts as reproduced (in the metric's units). A value with neither a comparison
    nor a tolerance is ``not checkable``; so is a ``rule`` that more than one condition has (that would pool them).
    """

    metric: str
    value: str
    rule: str | None = None
    layer: str = "all"
    tolerance: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.published:
            object.__setattr__(self, "published", self.value)

    @property
    def conditions(self) -> tuple[str, ...]:
        return () if self.rule is None else (self.rule,)

    def check(self, measured: float) -> bool | None:
        """Whether ``measured`` satisfies ``value``: its comparison, or ``|measured - value| <= tolerance``.

        ``None`` when the target states neither (a qualitative or non-numeric claim).
        """
        m = _COMPARISON.fullmatch(self.value)
        if m:
            return bool(OPS[m.group(1)](measured, float(m.group(2))))
        number = _NUMBER.fullmatch(self.value)
        if number and self.tolerance is not None:
            return abs(measured - float(number.group(1))) <= self.tolerance
        return None

    def criterion(self) -> str:
        """The test applied, in words: ``"< 90"``, ``"45 ± 5"`` or ``"none (qualitative)"``."""
        if _COMPARISON.fullmatch(self.value):
            return self.value.strip()
        number = _NUMBER.fullmatch(self.value)
        if number and self.tolerance is not None:
            return f"{number.group(1)} ± {self.tolerance:g}"
        return "none (compared by eye)"

    def statement(self) -> str:
        what = f"{self.metric}" + ("" if self.layer == "all" else f"[{self.layer}]") + (f" of {self.rule}" if self.rule else "")
        crit = self.criterion()
        return f"{what} {crit}" if crit != "none (compared by eye)" else f"{what}: {self.value}"

    def condition_of(self, data: Measurements) -> str | None:
        """The one condition read: ``rule`` as a label, else the one condition whose rule is ``rule``."""
        if self.rule is None:
            conds = data.conditions()
            if len(conds) > 1:
                raise PooledConditions(conds)
            return conds[0] if conds else None
        if self.rule in data.conditions():
            return self.rule
        conds = list(dict.fromkeys(data.df.loc[data.df["rule"] == self.rule, "condition"]))
        if len(conds) > 1:
            raise PooledConditions(conds)
        if not conds:
            raise MissingData(f"no condition '{self.rule}' (conditions: {', '.join(data.conditions()) or 'none'})")
        return conds[0]

    def judge(self, data: Measurements) -> Verdict:
        try:
            condition = self.condition_of(data)
        except PooledConditions as e:
            return Verdict("not checkable", reason=f"reads {len(e.args[0])} conditions ({', '.join(e.args[0])}); a claim names one")
        if condition is None:
            raise MissingData("no runs")
        v = data.at(condition, self.metric, self.layer).to_numpy()
        ok = self.check(float(v.mean()))
        if ok is None:
            return Verdict("not checkable", describe(v), f"the published value '{self.value}' states no number a program can compare")
        return _pass(ok, describe(v))


def evaluate_claims(claims: list[Claim], data: Measurements, quick: bool = False,
                    data_dir: str | None = None) -> list[tuple[Claim, Verdict]]:
    """Each claim with its verdict; quick-run claims are left out of a full run (see ``Claim.when``)."""
    out = []
    for c in claims:
        v = c.evaluate(data, quick=quick, data_dir=data_dir)
        if v is not None:
            out.append((c, v))
    return out
