"""The package's module import graph, built from the source with ``ast``: no cycles, few deferred imports.

Every ``import`` of a bioplaus module counts, wherever it is written (a function-local import
is still a dependency); ``from package import name`` depends on ``package.name`` when that is a
module, else on ``package``. A package's ``__init__`` re-exporting its modules is not an edge
back from those modules: they never import their package's ``__init__`` by name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bioplaus"
#: function-local imports of bioplaus modules, "module:attribute" string tables and import_module calls, allowed in all
DEFERRED_BUDGET = 30


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def dependencies(name: str, path: Path, known: set[str]) -> tuple[set[str], int]:
    """The bioplaus modules ``name`` imports, and how many of its imports are deferred (inside a function)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top = {id(node) for node in tree.body}
    typing_only: set[int] = set()
    for node in tree.body:  # imports under try/except at module level are still top-level; under `if TYPE_CHECKING:` none
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            typing_only |= {id(n) for n in ast.walk(node)}
        elif isinstance(node, (ast.If, ast.Try)):
            top |= {id(n) for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps, deferred = set(), 0
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        targets = [t for t in targets if t == "bioplaus" or t.startswith("bioplaus.")]
        if not targets or id(node) in typing_only:
            continue
        if id(node) not in top:
            deferred += 1
        for t in targets:
            while t not in known:
                t = t.rpartition(".")[0]
            if t != name:
                deps.add(t)
    return deps, deferred


def graph() -> tuple[dict[str, set[str]], int]:
    mods = modules()
    known = set(mods)
    edges, deferred = {}, 0
    for name, path in mods.items():
        edges[name], n = dependencies(name, path, known)
        deferred += n
        # string tables of "module:attribute" that import_module resolves lazily, and import_module's call sites
        text = path.read_text()
        deferred += len(re.findall(r"[\"']bioplaus(?:\.\w+)+:\w+[\"']", text)) + len(re.findall(r"\bimport_module\(", text))
    return edges, deferred


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package():
    edges, _ = graph()
    assert cycles(edges) == []


def test_deferred_imports_within_budget():
    _, deferred = graph()
    assert deferred <= DEFERRED_BUDGET, f"{deferred} function-local or string-table imports of bioplaus modules"


def test_layers_do_not_import_upwards():
    """Models import no rule, tasks no rule or model, metrics neither, rules never the run loop or the store."""
    edges, _ = graph()

    def reach(name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            for w in edges[todo.pop()]:
                if w not in seen:
                    seen.add(w)
                    todo.append(w)
        return seen

    for name in edges:
        deps = reach(name)
        if name.startswith(("bioplaus.rate.", "bioplaus.tasks")):
            assert not {d for d in deps if d.startswith("bioplaus.rules")}, name
        if name.startswith(("bioplaus.tasks", "bioplaus.metrics")):
            assert not {d for d in deps if d.startswith(("bioplaus.rate", "bioplaus.spiking"))}, name
        if name.startswith("bioplaus.metrics"):
            assert not {d for d in deps if d.startswith("bioplaus.rules")}, name
        if name.startswith("bioplaus.rules"):
            assert not deps & {"bioplaus.train", "bioplaus.store", "bioplaus.execute", "bioplaus.protocol"}, name
        if name == "bioplaus.report":
            assert "bioplaus.cli" not in deps
