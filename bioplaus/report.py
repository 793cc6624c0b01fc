"""Summaries of stored results: the end-of-run table and the verdicts on a protocol's claims."""

from __future__ import annotations

import math

import pandas as pd

from bioplaus.claims import (
    Claim,
    Measurements,
    PublishedTarget,
    Verdict,
    evaluate_claims,
)
from bioplaus.protocol import Protocol
from bioplaus.store import Store


def format_value(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    a = abs(x)
    if a != 0 and (a < 1e-2 or a >= 1e4):
        return f"{x:.2e}"
    return f"{x:.3g}" if a < 10 else f"{x:.1f}"


def default_summary(df: pd.DataFrame) -> list[tuple[str, str]]:
    present = set(zip(df["metric"], df["layer"]))
    cols: list[tuple[str, str]] = []
    for metric in ("test_loss", "test_accuracy"):
        if (metric, "all") in present:
            cols.append((metric, "all"))
    if not cols and ("loss", "all") in present:
        cols.append(("loss", "all"))
    angle_layers = sorted({layer for m, layer in present if m == "update_angle" and layer != "all"})
    if angle_layers:
        cols.append(("update_angle", angle_layers[0]))
    if ("update_angle", "all") in present:
        cols.append(("update_angle", "all"))
    return cols


def final_values(df: pd.DataFrame) -> pd.DataFrame:
    """Per run, metric and layer: the value at the first and the last recorded step."""
    df = df.sort_values("step")
    g = df.groupby(["condition", "rule", "seed", "metric", "layer"], sort=False)
    return g.agg(first=("value", "first"), last=("value", "last"), step=("step", "last")).reset_index()


def summary_table(store: Store, protocol: str, columns: list[tuple[str, str]] | None = None, conditions: list[str] | None = None) -> str:
    """A plain-text table: per condition, mean +- s.d. over seeds of the first -> last value of each column."""
    df = store.metrics(protocol=protocol)
    runs = store.runs(protocol)
    if df.empty:
        return f"{protocol}: no finished runs in {store.path}."
    columns = columns or default_summary(df)
    fv = final_values(df)
    order = conditions or list(dict.fromkeys(runs["condition"]))
    header = ["condition", "seeds"] + [f"{m}[{layer}]" if layer != "all" else m for m, layer in columns]
    lines = [header]
    for cond in order:
        sub = fv[fv["condition"] == cond]
        if sub.empty:
            continue
        row = [cond, str(sub["seed"].nunique())]
        for metric, layer in columns:
            s = sub[(sub["metric"] == metric) & (sub["layer"] == layer)]
            if s.empty:
                row.append("-")
                continue
            end = f"{format_value(s['last'].mean())} ± {format_value(s['last'].std(ddof=0))}"
            row.append(f"{format_value(s['first'].mean())} -> {end}")
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    steps = int(fv["step"].max())
    out = [f"{protocol}: first recorded -> last (step {steps}), mean ± s.d. over seeds", *text]
    bad = runs[~runs["status"].isin(["done"])]
    for _, r in bad.iterrows():
        extra = f" at step {int(r['diverged_step'])}" if r["status"] == "diverged" and pd.notna(r["diverged_step"]) else ""
        err = f": {str(r['error']).splitlines()[0]}" if r["status"] == "failed" and r["error"] else ""
        out.append(f"  note: {r['condition']} seed {r['seed']} {r['status']}{extra}{err}")
    return "\n".join(out)


def measured(store: Store, protocol: str, target: PublishedTarget) -> tuple[float, float, int] | None:
    """Mean, s.d. (ddof 0) and number of seeds of a :class:`PublishedTarget`'s metric at the last recorded step,
    read from its one condition; ``None`` when it is not measured or would pool several conditions."""
    df = store.metrics(protocol=protocol, metric=target.metric, layer=target.layer)
    if df.empty:
        return None
    data = Measurements(df)
    try:
        condition = target.condition_of(data)
        last = data.at(condition, target.metric, target.layer).to_numpy() if condition is not None else None
    except LookupError:  # MissingData or PooledConditions: nothing one condition could report
        return None
    if last is None or len(last) == 0:
        return None
    return float(last.mean()), float(last.std(ddof=0)), len(last)


def claim_verdicts(store: Store, protocol: Protocol, quick: bool = False, data_dir: str | None = None) -> list[tuple[Claim, Verdict]]:
    """Every claim of ``protocol`` (its ``target`` field) with its verdict on the protocol's runs in ``store``
    (its own seeds only); quick-run claims only when ``quick``, full-length-only claims as ``full length only``,
    claims about the paper's own data ``not checkable`` without ``data_dir``."""
    return evaluate_claims(protocol.targets, Measurements.from_store(store, protocol), quick=quick, data_dir=data_dir)


def is_proxy(target: Claim, protocol: Protocol, data_dir: str | None) -> bool:
    """Whether a run stands in for the published setting: ``target.proxy`` describes the
    default run; a protocol whose task switches to the paper's data with ``--data-dir``
    (:class:`bioplaus.tasks.ByDataDir`) is no proxy when a data folder was given."""
    from bioplaus.tasks.data_choice import ByDataDir

    return target.proxy and not (data_dir is not None and isinstance(protocol.task, ByDataDir))


def target_lines(store: Store, protocol: Protocol, data_dir: str | None = None, quick: bool = False) -> list[str]:
    """One line per claim: the paper, what is tested, what was measured and the verdict."""
    out = []
    for claim, v in claim_verdicts(store, protocol, quick, data_dir):
        line = f"claim ({claim.paper}, {claim.where}): {claim.statement()}"
        if claim.published and claim.published not in line:
            line += f" [published: {claim.published}]"
        if is_proxy(claim, protocol, data_dir):
            line += " [this run is a proxy]"
        line += f"; measured {v.measured} -> {v.verdict}"
        if v.reason:
            line += f" ({v.reason})"
        out.append(line)
    return out
