"""Rules by name, so protocols and the CLI can say ``"feedback_alignment"``.

:func:`bioplaus.rule_index.rule_index` reads every rule's name, module, label, colour and
description from the source of ``bioplaus/rules/`` with ``ast``; a rule module is imported only when its rule is
asked for, so naming and listing rules (``bioplaus list``) imports no rule code. Adding a
rule is adding its file: the index finds it. ``bptt`` is the exact gradient under another
name (:func:`bioplaus.rules.backprop.BPTT`).
"""

from __future__ import annotations

import importlib
from typing import Any

from bioplaus.errors import BioplausError, allowed
from bioplaus.rule_index import RuleEntry, rule_index  # noqa: F401  (re-exported)

def rule_names() -> list[str]:
    """Every rule name, sorted."""
    return sorted(rule_index())


def rule_class(name: str) -> Any:
    """The class (or, for an alias, the factory) that makes rule ``name``; imports its module."""
    entry = rule_index().get(name)
    if entry is None:
        raise BioplausError(f"unknown rule {name!r}; allowed rules are {allowed(rule_names())}.")
    return getattr(importlib.import_module(entry.module), entry.cls)


def get_rule(name: str, **params: Any) -> Any:
    """A rule by its name, e.g. ``get_rule("feedback_alignment", scale=0.5)``."""
    factory = rule_class(name)
    try:
        return factory(**params)
    except TypeError as e:
        raise BioplausError(f"rule {name!r}: bad parameters {params!r} ({e}).") from e


# the names protocols and older scripts use
names = rule_names
get = get_rule
