"""The rule index: every rate rule's name, module, display title, colour and one-line description,
read from the source of ``bioplaus/rules/*.py`` with :mod:`ast`, without importing them.

``bioplaus list`` and the store read it, so that neither pulls in torch. A rule class
enters the index when it assigns a string to ``name`` in its own body (``name = "uoro"``);
base classes declare the attribute with an annotation (``name: ClassVar[str] = "rule"``)
and stay out. Each rule declares ``title`` (the label figures show) and ``colour`` (a
matplotlib colour) as class attributes; the description is the first line of the class
docstring. A rule that does not declare ``title`` or ``colour`` yet gets them from
:data:`FALLBACK_TITLES` and :data:`FALLBACK_COLOURS` (the table figures used before rules
declared their own), else its name with spaces and no fixed colour.
``tests/test_first_hour.py`` checks the index against the imported rule classes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

RULES_DIR = Path(__file__).with_name("rules")

FALLBACK_TITLES: dict[str, str] = {
    "backprop": "backprop",
    "feedback_alignment": "feedback alignment",
    "direct_feedback_alignment": "direct feedback alignment",
    "shallow": "shallow",
    "sign_symmetry_usf": "sign symmetry (uSF)",
    "sign_symmetry_brsf": "sign symmetry (brSF)",
    "sign_symmetry_frsf": "sign symmetry (frSF)",
    "kolen_pollack": "Kolen-Pollack",
    "weight_mirror": "weight mirror",
    "bptt": "BPTT",
    "rtrl": "RTRL",
    "truncated_bptt": "truncated BPTT",
    "uoro": "UORO",
    "kf_rtrl": "KF-RTRL",
    "reinforce_rtrl": "REINFORCE-as-RTRL",
    "eprop": "e-prop",
    "rflo": "RFLO",
    "synthetic_gradients": "synthetic gradients",
    "sparse_attentive_backtracking": "SAB",
    "equilibrium_propagation": "EP",
    "backprop_through_time": "BPTT (relaxation)",
}

FALLBACK_COLOURS: dict[str, str] = {
    "backprop": "#222222",
    "feedback_alignment": "#d62728",
    "direct_feedback_alignment": "#1f77b4",
    "shallow": "#7f7f7f",
    "sign_symmetry_usf": "#2ca02c",
    "sign_symmetry_brsf": "#98df8a",
    "sign_symmetry_frsf": "#17becf",
    "kolen_pollack": "#9467bd",
    "weight_mirror": "#ff7f0e",
    "bptt": "#222222",
    "rtrl": "#8c564b",
    "truncated_bptt": "#ff7f0e",
    "uoro": "#2ca02c",
    "kf_rtrl": "#9467bd",
    "reinforce_rtrl": "#e377c2",
    "eprop": "#17becf",
    "rflo": "#bcbd22",
    "synthetic_gradients": "#d62728",
    "sparse_attentive_backtracking": "#393b79",
}


@dataclass(frozen=True)
class RuleEntry:
    """One rule: ``name`` (as in protocols), ``module`` (dotted), ``cls`` (class name),
    ``title`` (display label), ``colour`` (matplotlib colour or ``None``: the axes' cycle)
    and ``description`` (the class docstring's first line)."""

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


def entries_in_source(source: str, module: str) -> list[RuleEntry]:
    """The rule classes of one module's source text (see the module docstring for which count)."""
    out = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs, annotated = _string_attributes(node)
        if "name" not in attrs or "name" in annotated:
            continue
        name = attrs["name"]
        doc = (ast.get_docstring(node) or "").strip()
        out.append(RuleEntry(
            name=name, module=module, cls=node.name,
            title=attrs.get("title", FALLBACK_TITLES.get(name, name.replace("_", " "))),
            colour=attrs.get("colour", FALLBACK_COLOURS.get(name)),
            description=doc.splitlines()[0] if doc else "",
        ))
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
