"""Protocols: an experiment as data (task x model x rules x seeds x schedule x metrics).

A protocol script in ``protocols/`` builds a :class:`Protocol` in a top-level variable
``protocol``; ``bioplaus run protocols/NAME.py`` runs it into a store. Each entry of
``rules`` is a *condition*: a rule on the protocol's model and task, or a
:class:`Condition` giving the rule a model or task of its own (a linear baseline beside
the networks, one delay of a copy task, one input rate). Each (condition, seed) pair is
one independent run. Every (rule, model, task) is checked when the protocol is built: a
rule whose ``requires`` the model lacks is a one-paragraph error naming all three.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioplaus import metrics as metric_names
from bioplaus import models as model_specs
from bioplaus.divergence import DivergenceCriterion
from bioplaus.claims import Claim, PublishedTarget  # noqa: F401  (PublishedTarget: re-exported, bioplaus.PublishedTarget)
from bioplaus.errors import BioplausError, allowed
from bioplaus.metrics.probes import inapplicable
from bioplaus.optimizers import OPTIMIZERS
from bioplaus.rules.base import Rule
from bioplaus.rules.registry import get_rule, rule_names
from bioplaus.settings_check import check_optimizer, check_settings
from bioplaus.tasks import Task
from bioplaus.tasks.data_choice import ByDataDir
from bioplaus.tuning import StepSizeSearch, read_selection, scaled_optimizer, selection_path, with_constants



#: metrics that only a rule's own comparison gives (:attr:`initial_metrics` of the rule)
RULE_METRICS = {"gdu_angle", "gdu_rel_error"}


@dataclass(frozen=True)
class Condition:
    """One condition of a protocol: a rule, with (optionally) a model and a task of its own.

    Args:
        rule: a rule object or a rule name (:func:`bioplaus.rules.names`).
        model: ``None`` (the protocol's model), a model spec or the name of one in ``models/``,
            or a dict of fields that replace the protocol's model's (``{"n_hidden": 64}``,
            ``{"cell": "lstm"}``), validated like a spec file. A ``sizes`` override whose first entry is
            ``None`` takes the protocol model's input size, so that the condition follows a
            :class:`~bioplaus.tasks.ByDataDir` task's model (``{"sizes": [None, 10], "activations": ["linear"]}``:
            a linear model on whichever data the run reads).
        task: ``None`` (the protocol's task), a task, or a dict of fields that replace the
            protocol's task's (``{"delay": 20}``, ``{"input_rate_hz": 10.0}``).
        label: the condition's name in the store (default: the rule's ``label``).
        optimizer: ``None`` (the protocol's optimizer), or ``(name, kwargs)`` of the condition's own, validated
            like the protocol's. It replaces the protocol's optimizer whole: name, ``lr`` and, on an energy
            model, ``layer_lr`` (a condition that wants per-layer rates gives them itself). A condition without
            one keeps the run configuration (and its hash) of a protocol without per-condition optimizers.

    ``Condition(rules.UORO(), model={"n_hidden": 64}, label="uoro n=64")``;
    ``Condition(rules.Shallow(), optimizer=("adam", {"lr": 3e-3}))``: the read-out-only baseline at its own
    step size (as a :class:`bioplaus.tuning.StepSizeSearch` selects). Inside a built
    :class:`Protocol` every condition is resolved: ``rule`` a rule object, ``model`` a spec,
    ``task`` a task, ``label`` a string, ``optimizer`` the optimizer its runs use.
    """

    rule: Any
    model: Any = None
    task: Any = None
    label: str | None = None
    optimizer: tuple[str, dict[str, Any]] | None = None


@dataclass
class Protocol:
    """An experiment. See ``protocols/*.py`` for examples.

    Args:
        name: the protocol's name in the store.
        task: a :class:`bioplaus.tasks.Task`.
        model: a model spec or the name of one in ``models/``.
        rules: the conditions: rules (objects, or names from :func:`bioplaus.rules.names`), each on
            the protocol's model and task and named by its ``label``, or :class:`Condition` s.
        seeds: seed indices; each (rule, seed) is one run.
        steps: parameter updates per run; ``batch_size``: examples per update.
        optimizer: ``(name, kwargs)`` with name one of ``OPTIMIZERS``, e.g. ``("sgd", {"lr": 0.01})``.
        record_every: metrics are recorded at step 0, every ``record_every`` steps and at the last.
        metrics: names from :data:`bioplaus.metrics.METRICS` (default: what the task evaluates and ``update_angle``);
            a metric that no condition can record is an error.
        quick: field overrides for ``--quick`` (under a minute), e.g. ``dict(steps=500, seeds=range(2))``.
        target: the published result(s) reproduced.
        root_seed: root of every random stream (see :mod:`bioplaus.seeding`).
        threads: torch threads per run (results differ in the last bits between thread counts).
        divergence: a :class:`~bioplaus.divergence.DivergenceCriterion` (default: loss above 1000 x its initial value
            for 10 consecutive steps), or ``None`` to stop only on NaN / infinity; a diverged run is stored as
            ``diverged`` with the step where the stretch began.
        summary: ``(metric, layer)`` pairs shown in the end-of-run table.
        cka_samples: test inputs used for ``representation_cka``.
        tuning: a :class:`~bioplaus.tuning.StepSizeSearch`: each condition at its own step size, selected on held-out
            data by ``bioplaus tune`` and read from ``NAME.tuned.json`` beside the script by :func:`load_protocol`
            (``selection`` then holds that file's content).
    """

    name: str
    task: Task
    model: Any
    rules: list[Rule | str]
    seeds: list[int] | range = range(3)
    steps: int = 1000
    batch_size: int = 32
    optimizer: tuple[str, dict[str, Any]] = ("sgd", {"lr": 0.01})
    record_every: int = 100
    metrics: list[str] | tuple[str, ...] | None = None
    quick: dict[str, Any] = field(default_factory=dict)
    target: Claim | list[Claim] | None = None
    root_seed: int = 0
    threads: int = 1
    summary: list[tuple[str, str]] | None = None
    cka_samples: int = 2000
    description: str = ""
    source: str | None = None
    #: when a run counts as diverged beyond NaN: its loss above ``factor`` x the initial one for ``patience`` steps
    divergence: DivergenceCriterion | None = DivergenceCriterion()
    #: the ``--data-dir`` the runs read (set by :meth:`for_data_dir`; ``None``: no data folder)
    data_dir: str | None = None
    tuning: StepSizeSearch | None = None
    #: the step-size selection applied to the conditions (:meth:`with_selection`), ``None`` if none was
    selection: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise BioplausError(f"protocol field 'name' must be a non-empty string of letters, digits, '_', '.' or '-'; got {self.name!r}.")
        if not isinstance(self.task, Task):
            raise BioplausError(f"protocol field 'task' must be a bioplaus.tasks.Task (e.g. tasks.Digits()); got {self.task!r}.")
        self.model = _model_spec(self.model, "protocol field 'model'")
        if self.divergence is not None and not isinstance(self.divergence, DivergenceCriterion):
            raise BioplausError(f"protocol field 'divergence' must be a bioplaus.divergence.DivergenceCriterion (e.g. "
                                f"DivergenceCriterion(factor=1e3, patience=10)) or None, got {self.divergence!r}.")
        _check_fit(self.model, self.task, "protocol field 'model'")
        if isinstance(self.task, ByDataDir) and self.task.model_with_data_dir is not None:
            self.task.model_with_data_dir = _model_spec(self.task.model_with_data_dir, "tasks.ByDataDir field 'model_with_data_dir'")
            _check_fit(self.task.model_with_data_dir, self.task.with_data_dir, "tasks.ByDataDir field 'model_with_data_dir'")
        if not self.rules:
            raise BioplausError("protocol field 'rules' is empty; give at least one rule, e.g. rules.Backprop().")
        if self.metrics is None:  # what the task evaluates, and the angle to the exact gradient where there is one
            torch_model = model_specs.kind(self.model.kind).engine == "torch"
            self.metrics = [*self.task.metrics, *(["update_angle"] if torch_model else [])]
        self.optimizer = _optimizer(self.optimizer, "protocol field 'optimizer'")
        self.rules = list(self.rules)
        self.conditions = [self._resolve(c) for c in self.rules]
        labels = [c.label for c in self.conditions]
        if len(set(labels)) != len(labels):
            raise BioplausError(f"protocol field 'rules': condition labels must be distinct, got {labels}; "
                                "pass label='...' to tell configurations of one rule apart.")
        self.seeds = list(self.seeds)
        if not self.seeds or not all(isinstance(s, int) and s >= 0 for s in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            raise BioplausError(f"protocol field 'seeds' must be distinct non-negative integers, got {self.seeds!r}.")
        for key in ("steps", "batch_size", "record_every", "threads", "cka_samples"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "steps" else 1):
                raise BioplausError(f"protocol field '{key}' must be a {'non-negative' if key == 'steps' else 'positive'} integer, got {value!r}.")
        self.metrics = list(self.metrics)
        for m in self.metrics:
            if m not in metric_names.METRICS:
                raise BioplausError(f"protocol field 'metrics': unknown metric {m!r}; allowed values are {allowed(metric_names.METRICS)}.")
        for m in self.metrics:
            reasons = {c.label: inapplicable(m, model_specs.capabilities(c.model), c.rule, c.task) for c in self.conditions}
            if all(reasons.values()):
                label, why = next(iter(reasons.items()))
                raise BioplausError(
                    f"protocol field 'metrics': {m!r} cannot be recorded by any condition of protocol '{self.name}' "
                    f"(e.g. condition {label!r}: {why}); remove it, or add a condition that records it.")
        unknown = set(self.quick) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise BioplausError(f"protocol field 'quick' sets unknown fields {sorted(unknown)}; it may set any Protocol field, e.g. steps or seeds.")
        targets = self.targets
        for t in targets:
            if not isinstance(t, Claim):
                raise BioplausError(f"protocol field 'target' must be a claim (bioplaus.claims: Value, Bound, Ordering, Near, Ratio, "
                                    f"Trend, Limit, NotCheckable, PublishedTarget) or a list of them, got {t!r}.")
        check_settings(self)
        if self.tuning is not None:
            if not isinstance(self.tuning, StepSizeSearch):
                raise BioplausError(f"protocol field 'tuning' must be a bioplaus.tuning.StepSizeSearch or None, got {self.tuning!r}.")
            self.tuning.check(self)

    @property
    def targets(self) -> list[Claim]:
        if self.target is None:
            return []
        return list(self.target) if isinstance(self.target, (list, tuple)) else [self.target]

    def _resolve(self, entry: Any) -> Condition:
        """A ``rules`` entry as a resolved :class:`Condition`, checked: the rule against the model's capabilities,
        the model against the task."""
        c = entry if isinstance(entry, Condition) else Condition(entry)
        rule = get_rule(c.rule) if isinstance(c.rule, str) else c.rule
        if not isinstance(rule, Rule):
            raise BioplausError(f"protocol field 'rules' holds {rule!r}; each entry must be a rule object, a Condition or one of "
                                f"{allowed(rule_names())}.")
        label = c.label or rule.label
        where = f"protocol '{self.name}', condition '{label}'"
        model = self.model
        if isinstance(c.model, dict):
            override = dict(c.model)
            sizes = override.get("sizes")
            if isinstance(sizes, (list, tuple)) and sizes and sizes[0] is None and getattr(model, "sizes", None):
                override["sizes"] = [model.sizes[0], *sizes[1:]]  # None: the protocol model's input size (it may follow --data-dir)
            model = model_specs.kind(model.kind).from_dict({**model.to_dict(), **override}, f"{where} (model override)", model.name)
        elif c.model is not None:
            model = _model_spec(c.model, f"{where}: field 'model'")
        task = self.task
        if isinstance(c.task, dict):
            fields = {f.name for f in dataclasses.fields(task)} if dataclasses.is_dataclass(task) else set()
            unknown = sorted(set(c.task) - fields)
            if unknown:
                raise BioplausError(f"{where}: the task override sets unknown fields {unknown} of task {task.name!r}; "
                                    f"allowed fields are {allowed(sorted(fields))}.")
            task = dataclasses.replace(task, **c.task)
        elif c.task is not None:
            if not isinstance(c.task, Task):
                raise BioplausError(f"{where}: field 'task' must be a task or a dict of task fields, got {c.task!r}.")
            task = c.task
        if c.model is not None or c.task is not None:
            _check_fit(model, task, where)
        _check_requires(rule, model, where)
        own = set(self.metrics) & RULE_METRICS
        if own:
            offered = set(getattr(rule, "initial_metrics", ()))
            missing = sorted(getattr(rule, "initial_requires", frozenset()) - model_specs.capabilities(model))
            if not own <= offered or missing:
                raise BioplausError(
                    f"{where}: the metrics {sorted(own)} are a rule's own comparison (EP's updates against BPTT, Ernoult et al. "
                    f"2019); rule {rule.name!r} on model '{model.name}' cannot give them"
                    + (f" (the model lacks {allowed(missing)})" if missing and own <= offered else "")
                    + "; use rules.EquilibriumPropagation on an energy model with formulation = 'energy', or drop these metrics.")
        if isinstance(task, ByDataDir) and task.model_with_data_dir is not None and c.model is None:
            _check_requires(rule, task.model_with_data_dir, f"{where} (with --data-dir)")
        optimizer = self.optimizer
        if c.optimizer is not None:
            optimizer = _optimizer(c.optimizer, f"{where}: field 'optimizer'")
            check_optimizer(optimizer, model.kind, f"{where}: field 'optimizer'")
        elif c.model is not None:  # the protocol's optimizer on a model of another kind (layer_lr is for energy models)
            check_optimizer(optimizer, model.kind, f"protocol field 'optimizer' (used by condition '{label}', model '{model.name}')")
        return Condition(rule, model, task, label, optimizer)

    def with_selection(self, selection: dict[str, Any]) -> "Protocol":
        """The protocol with a step-size selection (``NAME.tuned.json``, :mod:`bioplaus.tuning`) applied: each selected
        condition gets its optimizer's rates times the selected factor and the selected rule constants; its label,
        model and task stay."""
        entries = []
        for entry, c in zip(self.rules, self.conditions):
            chosen = selection["selected"].get(c.label)
            if chosen is None:
                entries.append(entry)
                continue
            own = entry if isinstance(entry, Condition) else Condition(entry)
            rule = with_constants(c.rule, chosen["constants"]) if chosen["constants"] else c.rule
            entries.append(Condition(rule, own.model, own.task, c.label, scaled_optimizer(c.optimizer, chosen["lr_scale"])))
        return dataclasses.replace(self, rules=entries, selection=selection)

    def quick_version(self) -> "Protocol":
        """The protocol with its ``quick`` overrides applied."""
        return dataclasses.replace(self, **self.quick, quick={})

    def for_data_dir(self, data_dir: str | None) -> "Protocol":
        """The protocol a run with (or without) ``--data-dir`` executes: a :class:`~bioplaus.tasks.ByDataDir` task is
        replaced by the task (and model) it chooses, and ``data_dir`` is remembered for the runs, so that the
        stored configuration says which data a run was trained on. Resolving twice is harmless."""
        task = self.task
        if not isinstance(task, ByDataDir):
            return self if self.data_dir == data_dir else dataclasses.replace(self, data_dir=data_dir)
        model = task.model_with_data_dir if data_dir is not None and task.model_with_data_dir is not None else self.model
        # a step-size search reads the default data's validation split: the resolved protocol keeps the selection
        # (already in its conditions) but not the search, which --data-dir's data (MNIST: no validation split) cannot run
        tuning = self.tuning if data_dir is None else None
        return dataclasses.replace(self, task=task.choose(data_dir), model=model, data_dir=data_dir, tuning=tuning)

    def condition(self, label: str) -> Condition:
        """The resolved :class:`Condition` called ``label``."""
        for c in self.conditions:
            if c.label == label:
                return c
        raise KeyError(label)

    def rule(self, condition: str) -> Rule:
        return self.condition(condition).rule

    def jobs(self) -> list[tuple[str, int]]:
        """All (condition, seed) pairs, conditions in protocol order."""
        return [(c.label, s) for c in self.conditions for s in self.seeds]

    def run_config(self, condition: str, seed: int) -> dict[str, Any]:
        """Everything that determines a run's numbers, as JSON-able data."""
        c = self.condition(condition)
        return {
            "protocol": self.name,
            "condition": condition,
            "seed": seed,
            "root_seed": self.root_seed,
            "rule": c.rule.config(),
            "task": c.task.config(),
            "model": c.model.to_dict(),
            "steps": self.steps,
            "batch_size": self.batch_size,
            "optimizer": [c.optimizer[0], c.optimizer[1]],
            "record_every": self.record_every,
            "metrics": list(self.metrics),
            "threads": self.threads,
            "cka_samples": self.cka_samples,
            **({} if self.divergence == DivergenceCriterion() else
               {"divergence": None if self.divergence is None else dataclasses.asdict(self.divergence)}),
        }


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _optimizer(optimizer: Any, where: str) -> tuple[str, dict[str, Any]]:
    """``(name, kwargs)`` checked for its shape and name (its keywords: :func:`bioplaus.settings_check.check_optimizer`)."""
    if not (isinstance(optimizer, (tuple, list)) and len(optimizer) == 2 and isinstance(optimizer[1], dict)):
        raise BioplausError(f"{where} must be a pair (name, keywords), e.g. (\"adam\", {{\"lr\": 1e-3}}); got {optimizer!r}.")
    name, kwargs = optimizer
    if name not in OPTIMIZERS:
        raise BioplausError(f"{where}: unknown optimizer {name!r}; allowed values are {allowed(OPTIMIZERS)}.")
    return (name, dict(kwargs))


def _model_spec(model: Any, where: str) -> Any:
    """``model`` (a spec or the name of one in ``models/``) as a validated spec."""
    spec = model_specs.load(model) if isinstance(model, str) else model
    if not model_specs.is_spec(spec):
        raise BioplausError(f"{where} must be a model spec or the name of one in models/; got {model!r}.")
    return spec


def _check_fit(model: Any, task: Task, where: str) -> None:
    check = model_specs.kind(model.kind).check_task
    problem = check(model, task) if check is not None else None
    if problem:
        raise BioplausError(f"{where}: {problem}")


def _check_requires(rule: Rule, model: Any, where: str) -> None:
    """The one-paragraph error for a rule on a model that lacks what the rule ``requires``."""
    has = model_specs.capabilities(model)
    missing = sorted(set(rule.requires) - has)
    if missing:
        needs = "; ".join(f"'{m}' ({model_specs.CAPABILITIES.get(m, m)})" for m in missing)
        raise BioplausError(
            f"{where}: rule {rule.name!r} cannot run on model '{model.name}' (kind '{model.kind}'): the rule needs {needs}, "
            f"which the model lacks. The model offers {allowed(sorted(has))}; choose a rule that runs on it, or a model "
            f"that offers what the rule needs.")


def load_protocol(path: str | Path, tuned: bool = True) -> Protocol:
    """Execute a protocol script and return its top-level ``protocol``; with ``tuned`` (default), a protocol that
    declares a step-size search gets the selection in ``NAME.tuned.json`` beside the script (:mod:`bioplaus.tuning`).

    Errors name the script: a missing file, an exception while running it, no
    ``protocol`` variable, or one that is not a :class:`Protocol`.
    """
    path = Path(path)
    if not path.is_file():
        raise BioplausError(f"{path}: protocol script not found.")
    module_name = f"bioplaus_protocol_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BioplausError(f"{path}: cannot load as a Python script (is it a .py file?).")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BioplausError as e:
        raise BioplausError(f"{path}: {e}") from e
    except Exception as e:
        raise BioplausError(f"{path}: the protocol script failed while running: {type(e).__name__}: {e}") from e
    protocol = getattr(module, "protocol", None)
    if protocol is None:
        raise BioplausError(f"{path}: the script defines no top-level variable 'protocol' (it must be a bioplaus.Protocol).")
    if not isinstance(protocol, Protocol):
        raise BioplausError(f"{path}: top-level 'protocol' is a {type(protocol).__name__}, not a bioplaus.Protocol.")
    if not protocol.description:
        protocol.description = (module.__doc__ or "").strip()
    protocol.source = str(path.resolve())
    if tuned and protocol.tuning is not None:
        selection = read_selection(selection_path(path), protocol)
        if selection is not None:
            protocol = protocol.with_selection(selection)
    return protocol
