"""``bioplaus tune``: run a protocol's step-size search (:class:`bioplaus.tuning.StepSizeSearch`) and write its selection.

The search is an ordinary protocol, ``NAME.tuning``: one condition per (searched condition,
grid point), labelled ``"LABEL [lr x F, beta = B]"``, on the held-out data, with the search's
seeds and steps, recording only the score. It runs into a store through the usual executors,
so it resumes where it stopped and runs in parallel; its runs are ordinary runs, inspected
with ``bioplaus results --protocol NAME.tuning``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from bioplaus.errors import BioplausError
from bioplaus.execute import SweepReport, run_protocol
from bioplaus.protocol import Condition, Protocol
from bioplaus.store import Store
from bioplaus.tuning import FORMAT, scaled_optimizer, search_key, selection_path, validation_task, with_constants


#: scores closer than this (relative) are a tie, so that rounding cannot pick a larger factor over an equal smaller one
TIE = 1e-9


def point_label(label: str, lr_scale: float, constants: dict[str, Any]) -> str:
    return f"{label} [lr x {lr_scale:g}" + "".join(f", {k} = {v}" for k, v in constants.items()) + "]"


def search_protocol(protocol: Protocol) -> Protocol:
    """The derived protocol ``NAME.tuning`` that runs ``protocol``'s grid (``protocol`` without a selection applied)."""
    search = protocol.tuning
    if search is None:
        raise BioplausError(f"protocol '{protocol.name}' declares no step-size search (field 'tuning'); add "
                            f"tuning=StepSizeSearch(...) (see bioplaus.tuning) or run it at its declared settings.")
    base = protocol.for_data_dir(None)  # the search reads the default (held-out) data, never --data-dir's test set
    entries = []
    for label in search.searched([c.label for c in base.conditions]):
        c = base.condition(label)
        task = validation_task(c.task, f"protocol '{protocol.name}', field 'tuning'") if search.held_out == "validation" else c.task
        for scale, constants in search.grid(label):
            rule = with_constants(c.rule, constants) if constants else c.rule
            entries.append(Condition(rule, c.model, task, point_label(label, scale, constants), scaled_optimizer(c.optimizer, scale)))
    steps = search.steps or protocol.steps
    return dataclasses.replace(
        base, name=f"{protocol.name}.tuning", task=base.task, rules=entries, seeds=list(search.seeds), steps=steps,
        record_every=max(steps, 1), metrics=[search.metric], summary=[(search.metric, "all")], quick={}, target=None,
        tuning=None, selection=None, source=None)


def scores(store: Store, derived: Protocol, metric: str, goal: str) -> dict[str, dict[str, Any]]:
    """Per grid-point label: the mean over seeds of ``metric`` at each run's last recorded step, the seeds' values,
    and whether every run finished without diverging (a diverged or failed run scores worst: -inf or +inf)."""
    runs = store.runs(derived.name)
    df = store.metrics(protocol=derived.name, metric=metric, layer="all")
    worst = -math.inf if goal == "max" else math.inf
    out = {}
    for c in derived.conditions:
        values, ok = [], True
        for seed in derived.seeds:
            r = runs[(runs.condition == c.label) & (runs.seed == seed)]
            status = r.status.iloc[-1] if len(r) else "missing"
            d = df[(df.condition == c.label) & (df.seed == seed)]
            if status != "done" or d.empty or not math.isfinite(float(d[d.step == d.step.max()].value.iloc[0])):
                values.append(worst)
                ok = False
            else:
                values.append(float(d[d.step == d.step.max()].value.iloc[0]))
        mean = sum(values) / len(values) if ok else worst
        out[c.label] = {"score": mean, "values": values, "finished": ok}
    return out


def select(protocol: Protocol, point_scores: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The best grid point per searched condition; ties (scores within :data:`TIE`, relative) go to the earlier point
    of the grid (smaller factor first)."""
    search = protocol.tuning
    sign = 1.0 if search.goal == "max" else -1.0
    chosen = {}
    for label in search.searched([c.label for c in protocol.conditions]):
        best = None
        for scale, constants in search.grid(label):
            s = point_scores[point_label(label, scale, constants)]["score"]
            if best is None or sign * (s - best[2]) > TIE * max(abs(s), abs(best[2])):
                best = (scale, constants, s)
        scale, constants, s = best
        if not math.isfinite(s):
            raise BioplausError(f"protocol '{protocol.name}': every grid point of condition '{label}' diverged or failed in the "
                                f"step-size search; widen 'lr_scale' towards smaller factors.")
        chosen[label] = {"lr_scale": scale, "constants": constants, "score": s,
                         "optimizer": list(scaled_optimizer(protocol.condition(label).optimizer, scale))}
    return chosen


def run_search(protocol: Protocol, store: Store, workers: int = 1, executor: str | None = None, address: str | None = None,
               progress: bool = True, out: Path | None = None) -> tuple[Path, dict[str, Any], SweepReport]:
    """Run ``protocol``'s search into ``store`` (skipping finished runs), select, and write the selection file
    (``out``, default ``NAME.tuned.json`` beside the script). Returns the file, its content and the sweep's report."""
    if out is None:
        if protocol.source is None:
            raise BioplausError(f"protocol '{protocol.name}' was not loaded from a script; give the selection file's path.")
        out = selection_path(protocol.source)
    derived = search_protocol(protocol)
    report = run_protocol(derived, store, workers=workers, executor=executor, address=address, progress=progress)
    point_scores = scores(store, derived, protocol.tuning.metric, protocol.tuning.goal)
    runs = store.runs(derived.name)
    runs = runs[runs.condition.isin([c.label for c in derived.conditions]) & runs.seed.isin(derived.seeds)]
    selection = {
        "format": FORMAT,
        "protocol": protocol.name,
        "search_key": search_key(protocol),
        "search": protocol.tuning.to_dict(),
        "budget": {"seeds": list(derived.seeds), "steps": derived.steps, "grid_points": len(derived.conditions)},
        "selected": select(protocol, point_scores),
        "scores": {label: {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in s.items()
                           if k != "values"} | {"values": [x if math.isfinite(x) else None for x in s["values"]]}
                   for label, s in point_scores.items()},
        "cost": {"runs": int(len(runs)), "run_seconds": round(float(runs.duration_s.fillna(0).sum()), 1)},
    }
    out.write_text(json.dumps(selection, indent=1, sort_keys=False) + "\n")
    return out, selection, report
