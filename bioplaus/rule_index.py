"""The rule index: every rate rule's name, module, class, display title, colour and one-line description,
read from the source of ``bioplaus/rules/*.py`` with :mod:`ast`, without importing them.

``bioplaus list``, the store and :func:`bioplaus.rules.get_rule` read it, so that naming and
listing rules pulls in neither torch nor any rule module, and adding a rule is adding its
file. A rule class enters the index when it assigns a string to ``name`` in its own body
(``name = "uoro"``); base classes declare the attribute with an annotation
(``name: ClassVar[str] = "rule"``) and stay out. Each rule declares ``title`` (the label
figures show) and ``colour`` (a matplotlib colour) as class attributes; the description is
the first line of the class docstring. Another name for a rule is declared beside its
factory in a module-level ``RULE_ALIASES = {"bptt": "BPTT"}``.
``tests/test_first_hour.py`` checks the index against the imported rule classes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RULES_DIR = Path(__file__).with_name("rules")


@dataclass(frozen=True)
class RuleEntry:
    """One rule: ``name`` (as in protocols), ``module`` (dotted), ``cls`` (the class, or an alias's factory),
    ``title`` (display label), ``colour`` (matplotlib colour or ``None``: the axes' cycle) and
    ``description`` (the docstring's first line)."""

    name: str
    module: str
    cls: str
    title: str
    colour: str | None
    description: str


def _string_attributes(node: ast.ClassDef) -> tuple[dict[str, str], set[str]]:
    """Plain ``x = "..."`` assignments in a class body, and the names assigned with an annotation."""
    plain: dict[str, str] = {}
    annotated: set[str] = set()
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    plain[target.id] = stmt.value.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            annotated.add(stmt.target.id)
            if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str) and stmt.target.id != "name":
                plain[stmt.target.id] = stmt.value.value
    return plain, annotated


def _first_line(node: ast.AST) -> str:
    doc = (ast.get_docstring(node) or "").strip()
    return doc.splitlines()[0] if doc else ""


def entries_in_source(source: str, module: str) -> list[RuleEntry]:
    """The rules of one module's source text: its rule classes, then its aliases (see the module docstring)."""
    tree = ast.parse(source)
    out: list[RuleEntry] = []
    factories = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs, annotated = _string_attributes(node)
        if "name" not in attrs or "name" in annotated:
            continue
        name = attrs["name"]
        out.append(RuleEntry(name=name, module=module, cls=node.name, title=attrs.get("title", name.replace("_", " ")),
                             colour=attrs.get("colour"), description=_first_line(node)))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "RULE_ALIASES" for t in node.targets):
            aliases = ast.literal_eval(node.value)
            for alias, factory in aliases.items():
                target = out[0] if out else None
                out.append(RuleEntry(name=alias, module=module, cls=factory, title=alias.upper(),
                                     colour=target.colour if target else None,
                                     description=_first_line(factories[factory]) if factory in factories else ""))
    return out


@lru_cache(maxsize=1)
def rule_index() -> dict[str, RuleEntry]:
    """Every rule in ``bioplaus/rules/*.py`` by name, in name order."""
    found: dict[str, RuleEntry] = {}
    for path in sorted(RULES_DIR.glob("*.py")):
        for entry in entries_in_source(path.read_text(encoding="utf-8"), f"bioplaus.rules.{path.stem}"):
            found[entry.name] = entry
    return dict(sorted(found.items()))


def title_and_colour(rule: str, condition: str | None = None) -> tuple[str, str | None]:
    """What a figure shows for a run: the rule's title when the condition is named after the
    rule (else the condition's own label), and the rule's colour (``None`` for an unknown rule)."""
    entry = rule_index().get(rule)
    if condition is not None and condition != rule:
        return condition, entry.colour if entry else None
    return (entry.title if entry else rule), (entry.colour if entry else None)
