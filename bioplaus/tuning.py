"""Fair step sizes: each condition at its own best learning rate (and rule constants), chosen on held-out data.

A protocol declares ``tuning=StepSizeSearch(...)``: per condition, a grid of factors on its
learning rates (every rate of its optimizer, ``lr`` and an energy model's ``layer_lr`` alike, so
per-layer ratios are kept) and, optionally, of the rule's own constants (EP's ``beta``, a
perturbation's ``sigma``), scored on held-out data with a stated budget (seeds x steps per grid
point). ``bioplaus tune PROTOCOL`` runs the grid as ordinary runs in a store (under the derived
protocol name ``NAME.tuning``: resumable, parallel through the usual executors;
:mod:`bioplaus.search`), selects the best point per condition and writes the selection and
its cost (runs, and their summed run time: each run on one thread, so an upper bound on its CPU
seconds) to ``NAME.tuned.json`` beside the protocol script (plain JSON, read with :mod:`json`).
:func:`bioplaus.protocol.load_protocol` then gives every searched condition its selected
settings, in full and quick runs alike; a quick run never searches.

Held-out data (``held_out``):

- ``"validation"`` (default): the task's own validation split (``split="validation"``:
  MNIST-1D's last 1,000 training signals, held out from its training set; Yin-Yang's published
  validation set), whose scores the task reports as ``test_*``. The search never sees the test set.
- ``"seeds"``: for a task that draws its data from the run's seed (a synthetic stream), the
  search runs on seeds disjoint from the protocol's.

Selection: the mean over the search's seeds of ``metric`` at the last recorded step; a run that
diverged or failed scores worst. Ties (scores within 1e-9, relative) go to the smaller factor, then
to the earlier constant in the grid's order. A missing selection file is not an error: the protocol runs at its
declared settings and a warning says so (the report says so too), so that a new protocol can
run before its search has; a selection made for another search (the grid, the budget or a
searched condition changed) gives the same warning and is not used.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import itertools
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioplaus.errors import BioplausError, allowed
from bioplaus.settings_check import OPTIMIZER_CLASSES, SettingsWarning
from bioplaus.tasks.base import Task
from bioplaus.tasks.data_choice import ByDataDir

HELD_OUT = ("validation", "seeds")
GOALS = ("max", "min")
#: the selection file's format version
FORMAT = 1


@dataclass(frozen=True)
class StepSizeSearch:
    """A per-condition grid search of step sizes (and rule constants) on held-out data.

    Args:
        lr_scale: factors on every learning rate of a condition's optimizer (``lr``, each ``layer_lr``).
        constants: ``{condition label: {rule attribute: [values]}}``, searched jointly with ``lr_scale``
            (``{"ep_centered": {"beta": [0.2, 0.5, 1.0]}}``).
        conditions: the labels searched (default: every condition); the others keep their settings.
        metric: the score (a metric the task records; ``test_*`` metrics read the validation split).
        goal: ``"max"`` or ``"min"``.
        seeds: the search's seeds per grid point; ``steps``: updates per run (default: the protocol's).
        held_out: ``"validation"`` or ``"seeds"`` (module docstring).
    """

    lr_scale: tuple[float, ...] = (0.3, 1.0, 3.0)
    constants: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)
    conditions: tuple[str, ...] | None = None
    metric: str = "test_accuracy"
    goal: str = "max"
    seeds: tuple[int, ...] = (0,)
    steps: int | None = None
    held_out: str = "validation"

    def __post_init__(self) -> None:
        where = "protocol field 'tuning' (StepSizeSearch)"
        scales = tuple(self.lr_scale)
        if not scales or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s) and s > 0 for s in scales):
            raise BioplausError(f"{where}: 'lr_scale' must be a non-empty list of finite numbers > 0, got {self.lr_scale!r}.")
        if len(set(scales)) != len(scales):
            raise BioplausError(f"{where}: 'lr_scale' holds a value twice: {list(scales)}.")
        object.__setattr__(self, "lr_scale", tuple(float(s) for s in scales))
        if not isinstance(self.constants, dict) or not all(isinstance(v, dict) for v in self.constants.values()):
            raise BioplausError(f"{where}: 'constants' must be {{condition label: {{rule attribute: [values]}}}}, got {self.constants!r}.")
        consts = {}
        for label, grid in self.constants.items():
            consts[label] = {}
            for name, values in grid.items():
                values = tuple(values) if isinstance(values, (list, tuple)) else ()
                if not values or len(set(values)) != len(values):
                    raise BioplausError(f"{where}: constants[{label!r}][{name!r}] must be a non-empty list of distinct values, "
                                        f"got {grid[name]!r}.")
                consts[label][name] = values
        object.__setattr__(self, "constants", consts)
        if self.conditions is not None:
            object.__setattr__(self, "conditions", tuple(self.conditions))
        seeds = tuple(self.seeds)
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise BioplausError(f"{where}: 'seeds' must be distinct non-negative integers, got {self.seeds!r}.")
        object.__setattr__(self, "seeds", seeds)
        if self.steps is not None and (not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1):
            raise BioplausError(f"{where}: 'steps' must be a positive integer or None (the protocol's), got {self.steps!r}.")
        if self.goal not in GOALS:
            raise BioplausError(f"{where}: 'goal' must be one of {allowed(GOALS)}, got {self.goal!r}.")
        if self.held_out not in HELD_OUT:
            raise BioplausError(f"{where}: 'held_out' must be one of {allowed(HELD_OUT)}, got {self.held_out!r}.")

    def to_dict(self) -> dict[str, Any]:
        return {"lr_scale": list(self.lr_scale), "constants": {k: {n: list(v) for n, v in g.items()} for k, g in self.constants.items()},
                "conditions": None if self.conditions is None else list(self.conditions), "metric": self.metric,
                "goal": self.goal, "seeds": list(self.seeds), "steps": self.steps, "held_out": self.held_out}

    def searched(self, labels: list[str]) -> list[str]:
        """The searched condition labels, in the protocol's order."""
        return [x for x in labels if self.conditions is None or x in self.conditions]

    def grid(self, label: str) -> list[tuple[float, dict[str, Any]]]:
        """``(lr_scale, constants)`` points of one condition, in tie-breaking order (smaller factor first)."""
        grid = self.constants.get(label, {})
        names = list(grid)
        points = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))] or [{}]
        return [(s, c) for s in sorted(self.lr_scale) for c in points]

    def check(self, protocol: Any) -> None:
        """The search against its protocol, when the protocol is built: labels, constants, metric, held-out data."""
        where = f"protocol '{protocol.name}', field 'tuning'"
        labels = [c.label for c in protocol.conditions]
        for name, group in (("conditions", self.conditions or ()), ("constants", list(self.constants))):
            unknown = [x for x in group if x not in labels]
            if unknown:
                raise BioplausError(f"{where}: '{name}' names unknown conditions {unknown}; the protocol's conditions are {allowed(labels)}.")
        for label, grid in self.constants.items():
            if label not in self.searched(labels):
                raise BioplausError(f"{where}: constants are given for condition {label!r}, which 'conditions' leaves out of the search.")
            rule = protocol.condition(label).rule
            for name, values in grid.items():
                current = getattr(rule, name, None)
                if name.startswith("_") or name == "label" or not isinstance(current, (int, float)) or isinstance(current, bool):
                    raise BioplausError(f"{where}: constants[{label!r}]: rule {rule.name!r} has no numeric constant {name!r}; "
                                        f"its numeric constants are {allowed(numeric_constants(rule))}.")
                for v in values:
                    try:
                        with_constants(rule, {name: v})
                    except BioplausError as e:
                        raise BioplausError(f"{where}: constants[{label!r}][{name!r}] = {v!r}: {e}") from None
        if self.metric not in protocol.metrics:
            raise BioplausError(f"{where}: 'metric' is {self.metric!r}, which the protocol does not record; choose one of "
                                f"{allowed(protocol.metrics)}.")
        if self.held_out == "validation":
            for label in self.searched(labels):
                validation_task(protocol.condition(label).task, f"{where} (condition {label!r})")
        else:
            shared = sorted(set(self.seeds) & set(protocol.seeds))
            if shared:
                raise BioplausError(f"{where}: held_out='seeds' needs search seeds disjoint from the protocol's {list(protocol.seeds)}; "
                                    f"both hold {shared}.")


def numeric_constants(rule: Any) -> list[str]:
    return sorted(k for k, v in vars(rule).items()
                  if not k.startswith("_") and k != "label" and isinstance(v, (int, float)) and not isinstance(v, bool))


def with_constants(rule: Any, constants: dict[str, Any]) -> Any:
    """A copy of ``rule`` with ``constants`` set, re-validated by the rule's own constructor where its
    arguments carry the same names (``EquilibriumPropagation(beta=...)``)."""
    fresh = rule.fresh()
    params = inspect.signature(type(rule).__init__).parameters
    if all(name in params for name in constants):  # rebuild, so the constructor's checks run on the new values
        kwargs = {n: getattr(rule, n) for n in params if n not in ("self",) and hasattr(rule, n) and
                  params[n].kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
        try:
            rebuilt = type(rule)(**{**kwargs, **constants})
        except TypeError:
            rebuilt = None
        if rebuilt is not None:
            return rebuilt
    for name, value in constants.items():
        setattr(fresh, name, value)
    return fresh


def validation_task(task: Task, where: str) -> Task:
    """``task`` with its validation split: a task with a ``split`` field gets ``split="validation"``; a wrapper
    (one-hot loss, a data choice) gets its inner task's. A task without one is a one-paragraph error."""
    if isinstance(task, ByDataDir):
        return validation_task(task.default, where)
    names = {f.name for f in dataclasses.fields(task)} if dataclasses.is_dataclass(task) else set()
    if "split" in names:
        try:
            return dataclasses.replace(task, split="validation")
        except BioplausError as e:
            raise BioplausError(f"{where}: task {task.name!r} has no validation split ({e}).") from None
    inner = getattr(task, "task", None)
    if "task" in names and isinstance(inner, Task):
        return dataclasses.replace(task, task=validation_task(inner, where))
    raise BioplausError(f"{where}: task {task.name!r} has no validation split held out from its training data (tasks with one: "
                        f"mnist1d, yin_yang, digits); use such a task, or held_out='seeds' for a task that draws its data from "
                        f"the run's seed.")


def scaled_optimizer(optimizer: tuple[str, dict[str, Any]], factor: float) -> tuple[str, dict[str, Any]]:
    """``optimizer`` with every learning rate (``lr`` and each ``layer_lr``) times ``factor``. An optimizer without an
    explicit ``lr`` gets ``factor`` x torch's default for it."""
    name, kwargs = optimizer
    kwargs = dict(kwargs)
    base = kwargs.get("lr", inspect.signature(OPTIMIZER_CLASSES[name].__init__).parameters["lr"].default)
    kwargs["lr"] = float(base) * factor
    if kwargs.get("layer_lr"):
        kwargs["layer_lr"] = {k: float(v) * factor for k, v in kwargs["layer_lr"].items()}
    return (name, kwargs)


def search_key(protocol: Any) -> str:
    """What a selection was made for: the search and, per searched condition, everything of its run
    configuration but seed, schedule and metrics (its rule, model, task and optimizer before selection)."""
    search: StepSizeSearch = protocol.tuning
    drop = ("protocol", "seed", "steps", "record_every", "metrics", "cka_samples", "condition")
    conditions = {}
    for label in search.searched([c.label for c in protocol.conditions]):
        config = protocol.run_config(label, 0)
        conditions[label] = {k: v for k, v in config.items() if k not in drop}
    body = {"search": search.to_dict(), "steps": search.steps or protocol.steps, "batch_size": protocol.batch_size,
            "conditions": conditions}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def selection_path(source: str | Path) -> Path:
    """``protocols/NAME.py`` -> ``protocols/NAME.tuned.json``."""
    return Path(source).with_suffix(".tuned.json")


def read_selection(path: Path, protocol: Any) -> dict[str, Any] | None:
    """The selection file of ``protocol`` (already checked against its search), or ``None`` with a warning
    when it is missing or made for another search. A file that is not a selection is an error."""
    if not path.is_file():
        warnings.warn(f"protocol '{protocol.name}' declares a step-size search but {path} does not exist; its conditions run at "
                      f"the protocol's declared settings. Run 'bioplaus tune {protocol.source}' to select them.",
                      SettingsWarning, stacklevel=3)
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BioplausError(f"{path}: not a readable selection file ({e}); delete it and run 'bioplaus tune' again.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("selected"), dict):
        raise BioplausError(f"{path}: not a step-size selection of format {FORMAT} (fields 'format', 'selected'); delete it and "
                            f"run 'bioplaus tune' again.")
    if data.get("search_key") != search_key(protocol):
        warnings.warn(f"{path} was made for another search or other conditions of protocol '{protocol.name}' (the grid, budget, "
                      f"a rule, model, task or optimizer changed); it is not used and the conditions run at the declared settings. "
                      f"Run 'bioplaus tune {protocol.source}' again.", SettingsWarning, stacklevel=3)
        return None
    return data
