"""Rules by name, so protocols and the CLI can say ``"feedback_alignment"``.

:func:`rule_index` reads every rule's name, module, label, colour and description from the
source of ``bioplaus/rules/`` with ``ast``; a rule module is imported only when its rule is
asked for, so naming and listing rules (``bioplaus list``) imports no rule code. Adding a
rule is adding its file: the index finds it. ``bptt`` is the exact gradient under another
name (:func:`bioplaus.rules.backprop.BPTT`).
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from bioplaus.errors import BioplausError, allowed

RULES_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class RuleEntry:
    """What the index knows of a rule without importing it: its module and class (or factory), the
    figures' label and colour, and a one-line description (the docstring's first line)."""

    name: str
    module: str
    attribute: str
    title: str
    colour: str
    description: str


def _literal(node: ast.AST) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


@lru_cache(maxsize=1)
def rule_index() -> dict[str, RuleEntry]:
    """Every rule in ``bioplaus/rules/``, by name, read from the source with ``ast`` (no rule module is imported).

    A rule is a class with a string class attribute ``name``; an alias is a module-level
    ``RULE_ALIASES = {name: factory}`` beside the factory. Classes inherit ``title`` and
    ``colour`` only from their own body (a rule says how it is drawn).
    """
    index: dict[str, RuleEntry] = {}
    for path in sorted(RULES_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        module = f"bioplaus.rules.{path.stem}"
        docs: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                docs[node.name] = (ast.get_docstring(node) or "").strip().split("\n")[0]
            if isinstance(node, ast.ClassDef):
                attrs = {t.id: _literal(stmt.value) for stmt in node.body if isinstance(stmt, ast.Assign)
                         for t in stmt.targets if isinstance(t, ast.Name)}
                if isinstance(attrs.get("name"), str):
                    index[attrs["name"]] = RuleEntry(attrs["name"], module, node.name, str(attrs.get("title") or attrs["name"]),
                                                     str(attrs.get("colour") or ""), docs[node.name])
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "RULE_ALIASES" for t in node.targets):
                for alias, factory in (_literal(node.value) or {}).items():
                    target = next((e for e in index.values() if e.module == module), None)
                    index[alias] = RuleEntry(alias, module, factory, alias.upper(), target.colour if target else "",
                                             docs.get(factory, ""))
    return index


def rule_names() -> list[str]:
    """Every rule name, sorted."""
    return sorted(rule_index())


def rule_class(name: str) -> Any:
    """The class (or, for an alias, the factory) that makes rule ``name``; imports its module."""
    entry = rule_index().get(name)
    if entry is None:
        raise BioplausError(f"unknown rule {name!r}; allowed rules are {allowed(rule_names())}.")
    return getattr(importlib.import_module(entry.module), entry.attribute)


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
