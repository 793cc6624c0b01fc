"""Summaries of stored results: the end-of-run table and the verdicts on a protocol's claims."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from bioplaus.claims import (
    Claim,
    Measurements,
    PublishedTarget,
    Verdict,
    evaluate_claims,
)

if TYPE_CHECKING:  # annotations only: `bioplaus results` prints summary tables without importing torch
    from bioplaus.protocol import Protocol
    from bioplaus.store import Store


def format_value(x: float | None) -> str:
    """A number in at most 3 significant digits (one decimal from 10 on, exponent below 0.01 or from 1e4); ``-`` for none/NaN."""
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
    if not cols:  # none of the usual metrics: the first few recorded for all parameters (or for any layer)
        pairs = list(dict.fromkeys(zip(df["metric"], df["layer"])))
        cols = ([p for p in pairs if p[1] == "all"] or pairs)[:4]
    return cols


#: metrics stored with ``step`` = m, the number of estimates averaged, not a training step (see DESIGN.md)
STEP_IS_M = ("estimate_bias_angle", "estimate_variance")


def final_values(df: pd.DataFrame) -> pd.DataFrame:
    """Per run (condition, rule, seed), metric and layer: ``first`` and ``last``, the values at the first
    and the last step at which that metric was recorded, that ``step``, and ``run_last_step``, the last
    training step at which the run recorded anything (the largest m for :data:`STEP_IS_M` metrics), so
    that a value that stopped being recorded early can be told apart."""
    df = df.sort_values("step", kind="stable").assign(_axis=lambda d: d["metric"].isin(STEP_IS_M))
    keys = ["condition", "rule", "seed"]
    g = df.groupby([*keys, "metric", "layer"], sort=False)
    out = g.agg(first=("value", "first"), last=("value", "last"), step=("step", "last"), _axis=("_axis", "first")).reset_index()
    run_last = df.groupby([*keys, "_axis"], sort=False)["step"].max().rename("run_last_step").reset_index()
    return out.merge(run_last, on=[*keys, "_axis"], how="left").drop(columns="_axis")


def _cell(s: pd.DataFrame) -> str:
    """``first -> last`` (one run) or ``mean first -> mean last ± s.d. of last`` (several runs of one condition)."""
    if s.empty:
        return "-"
    if len(s) == 1:
        return f"{format_value(float(s['first'].iloc[0]))} -> {format_value(float(s['last'].iloc[0]))}"
    return (f"{format_value(s['first'].mean())} -> {format_value(s['last'].mean())} "
            f"± {format_value(s['last'].std(ddof=0))}")


def summary_table(store: Store, protocol: str, columns: list[tuple[str, str]] | None = None, conditions: list[str] | None = None) -> str:
    """A plain-text table, one row per condition (conditions are never pooled): for each column
    ``(metric, layer)``, the first recorded value -> the value at each run's last recorded step, as the
    mean over that condition's seeds ± their s.d. (no ± for a single seed). A metric whose last value
    comes before its run's last recorded step (it stopped being recorded) is left out of that cell.

    ``columns``: default the protocol's ``summary`` as stored by ``bioplaus run`` (so that ``run`` and
    ``results`` show the same columns), else :func:`default_summary`. ``conditions``: row order.
    """
    df = store.metrics(protocol=protocol)
    runs = store.runs(protocol)
    if df.empty:
        return f"{protocol}: no finished runs in {store.path}."
    columns = columns or store.summary_columns(protocol) or default_summary(df)
    fv = final_values(df)
    fv = fv[fv["step"] == fv["run_last_step"]]
    present = set(runs["condition"])
    order = [c for c in (conditions or []) if c in present] + [c for c in dict.fromkeys(runs["condition"]) if c not in (conditions or [])]
    header = ["condition", "seeds"] + [f"{m}[{layer}]" if layer != "all" else m for m, layer in columns]
    lines = [header]
    last_steps = set()
    for cond in order:
        sub = fv[fv["condition"] == cond]
        if sub.empty:
            continue
        row = [cond, str(sub["seed"].nunique())]
        for metric, layer in columns:
            s = sub[(sub["metric"] == metric) & (sub["layer"] == layer)]
            last_steps.update(int(x) for x in s["step"])
            row.append(_cell(s))
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(header))]
    text = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in lines]
    text.insert(1, "  ".join("-" * w for w in widths))
    if len(last_steps) == 1:
        steps = f"step {last_steps.pop()}"
    elif last_steps:
        steps = f"each run's last recorded step, {min(last_steps)} to {max(last_steps)}"
    else:
        steps = "no value at a run's last recorded step"
    out = [f"{protocol}: first recorded -> last ({steps}); per condition, mean ± s.d. over seeds when seeds > 1", *text]
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
    return target.proxy and not (data_dir is not None and getattr(protocol.task, "with_data_dir", None) is not None)


def step_size_line(protocol: "Protocol") -> str | None:
    """One line for reports on a protocol with a step-size search (:mod:`bioplaus.tuning`): the selected settings per
    condition and what the search cost, or that no selection was used; ``None`` without a search."""
    search, selection = protocol.tuning, protocol.selection
    if search is None:
        return None
    if selection is None:
        return ("Step sizes: the protocol declares a search, but no valid selection file was found; the conditions ran at the "
                "declared settings.")
    parts = []
    for label, s in selection["selected"].items():
        consts = "".join(f", {k} = {v:g}" if isinstance(v, float) else f", {k} = {v}" for k, v in s["constants"].items())
        parts.append(f"{label} x {s['lr_scale']:g}{consts} ({search.metric} {s['score']:.3g})")
    cost = selection["cost"]
    held = "validation split" if search.held_out == "validation" else f"held-out seeds {list(search.seeds)}"
    return (f"Step sizes (factor on the declared learning rates, selected per condition on the {held}, {len(search.seeds)} "
            f"seed(s) x {selection['budget']['steps']} steps per grid point): " + "; ".join(parts)
            + f". Search cost: {cost['runs']} runs, {cost['run_seconds']:.0f} s of single-thread run time.")


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
    selected = step_size_line(protocol)
    return out + ([selected] if selected else [])
