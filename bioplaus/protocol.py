"""Protocols: an experiment as data (task x model x rules x seeds x schedule x metrics).

A protocol script in ``protocols/`` builds a :class:`Protocol` in a top-level variable
``protocol``; ``bioplaus run protocols/NAME.py`` runs it into a store. Each rule is a
*condition*; each (condition, seed) pair is one independent run.
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
from bioplaus.claims import PublishedTarget
from bioplaus.errors import BioplausError, allowed
from bioplaus.rules import Rule, get as get_rule
from bioplaus.tasks import Task

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


@dataclass
class Protocol:
    """An experiment. See ``protocols/*.py`` for examples.

    Args:
        name: the protocol's name in the store.
        task: a :class:`bioplaus.tasks.Task`.
        model: a model spec or the name of one in ``models/``.
        rules: rules (objects, or names from :func:`bioplaus.rules.names`); each is a condition
            named by its ``label``.
        seeds: seed indices; each (rule, seed) is one run.
        steps: parameter updates per run; ``batch_size``: examples per update.
        optimizer: ``(name, kwargs)`` with name one of ``OPTIMIZERS``, e.g. ``("sgd", {"lr": 0.01})``.
        record_every: metrics are recorded at step 0, every ``record_every`` steps and at the last.
        metrics: names from :data:`bioplaus.metrics.METRICS`.
        quick: field overrides for ``--quick`` (under a minute), e.g. ``dict(steps=500, seeds=range(2))``.
        target: the published result(s) reproduced.
        root_seed: root of every random stream (see :mod:`bioplaus.seeding`).
        threads: torch threads per run (results differ in the last bits between thread counts).
        summary: ``(metric, layer)`` pairs shown in the end-of-run table.
        cka_samples: test inputs used for ``representation_cka``.
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
    metrics: list[str] | tuple[str, ...] = ("loss", "test_loss", "test_accuracy", "update_angle")
    quick: dict[str, Any] = field(default_factory=dict)
    target: PublishedTarget | list[PublishedTarget] | None = None
    root_seed: int = 0
    threads: int = 1
    summary: list[tuple[str, str]] | None = None
    cka_samples: int = 2000
    description: str = ""
    source: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
            raise BioplausError(f"protocol field 'name' must be a non-empty string of letters, digits, '_', '.' or '-'; got {self.name!r}.")
        if not isinstance(self.task, Task):
            raise BioplausError(f"protocol field 'task' must be a bioplaus.tasks.Task (e.g. tasks.Digits()); got {self.task!r}.")
        if isinstance(self.model, str):
            self.model = model_specs.load(self.model)
        if not model_specs.is_spec(self.model):
            raise BioplausError(f"protocol field 'model' must be a model spec or the name of one in models/; got {self.model!r}.")
        check = model_specs.kind(self.model.kind).check_task
        problem = check(self.model, self.task) if check is not None else None
        if problem:
            raise BioplausError(f"protocol field 'model': {problem}")
        if not self.rules:
            raise BioplausError("protocol field 'rules' is empty; give at least one rule, e.g. rules.Backprop().")
        self.rules = [get_rule(r) if isinstance(r, str) else r for r in self.rules]
        for r in self.rules:
            if not isinstance(r, Rule):
                raise BioplausError(f"protocol field 'rules' holds {r!r}; each entry must be a rule object or one of {allowed(sorted(_rule_names()))}.")
        labels = [r.label for r in self.rules]
        if len(set(labels)) != len(labels):
            raise BioplausError(f"protocol field 'rules': condition labels must be distinct, got {labels}; pass label='...' to tell configurations of one rule apart.")
        self.seeds = list(self.seeds)
        if not self.seeds or not all(isinstance(s, int) and s >= 0 for s in self.seeds) or len(set(self.seeds)) != len(self.seeds):
            raise BioplausError(f"protocol field 'seeds' must be distinct non-negative integers, got {self.seeds!r}.")
        for key in ("steps", "batch_size", "record_every", "threads", "cka_samples"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "steps" else 1):
                raise BioplausError(f"protocol field '{key}' must be a {'non-negative' if key == 'steps' else 'positive'} integer, got {value!r}.")
        opt_name, opt_kwargs = self.optimizer
        if opt_name not in OPTIMIZERS:
            raise BioplausError(f"protocol field 'optimizer': unknown optimizer {opt_name!r}; allowed values are {allowed(OPTIMIZERS)}.")
        self.optimizer = (opt_name, dict(opt_kwargs))
        self.metrics = list(self.metrics)
        for m in self.metrics:
            if m not in metric_names.METRICS:
                raise BioplausError(f"protocol field 'metrics': unknown metric {m!r}; allowed values are {allowed(metric_names.METRICS)}.")
        unknown = set(self.quick) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise BioplausError(f"protocol field 'quick' sets unknown fields {sorted(unknown)}; it may set any Protocol field, e.g. steps or seeds.")
        targets = self.targets
        for t in targets:
            if not isinstance(t, PublishedTarget):
                raise BioplausError(f"protocol field 'target' must be a PublishedTarget or a list of them, got {t!r}.")

    @property
    def targets(self) -> list[PublishedTarget]:
        if self.target is None:
            return []
        return list(self.target) if isinstance(self.target, (list, tuple)) else [self.target]

    def quick_version(self) -> "Protocol":
        """The protocol with its ``quick`` overrides applied."""
        return dataclasses.replace(self, **self.quick, quick={})

    def rule(self, condition: str) -> Rule:
        for r in self.rules:
            if r.label == condition:
                return r
        raise KeyError(condition)

    def jobs(self) -> list[tuple[str, int]]:
        """All (condition, seed) pairs, conditions in protocol order."""
        return [(r.label, s) for r in self.rules for s in self.seeds]

    def run_config(self, condition: str, seed: int) -> dict[str, Any]:
        """Everything that determines a run's numbers, as JSON-able data."""
        return {
            "protocol": self.name,
            "condition": condition,
            "seed": seed,
            "root_seed": self.root_seed,
            "rule": self.rule(condition).config(),
            "task": self.task.config(),
            "model": self.model.to_dict(),
            "steps": self.steps,
            "batch_size": self.batch_size,
            "optimizer": [self.optimizer[0], self.optimizer[1]],
            "record_every": self.record_every,
            "metrics": list(self.metrics),
            "threads": self.threads,
            "cka_samples": self.cka_samples,
        }


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _rule_names() -> list[str]:
    from bioplaus.rules import names

    return names()


def load_protocol(path: str | Path) -> Protocol:
    """Execute a protocol script and return its top-level ``protocol``.

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
    return protocol
