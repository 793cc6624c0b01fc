"""A new user's first hour (issue 16): fast start-up, the rule index, absurd settings caught
when a protocol is built, tables that never pool conditions, figures that read their labels
from the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bioplaus.rule_index import entries_in_source, rule_index, title_and_colour

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "brian2", "bioplaus.rules", "bioplaus.protocol", "matplotlib")

_PROBE = f"""
import json, sys
from bioplaus.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as e:
    rc = e.code
print(json.dumps({{"rc": rc, "loaded": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def _probe(*argv: str, tmp_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "BIOPLAUS_STORE": str(tmp_path / "none.sqlite")}
    out = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [("--help",), ("list",), ("run", "--help"), ("results",), ("lst",), ("run", "--workers", "0", "x.py")])
def test_cheap_commands_import_neither_torch_nor_brian2(argv, tmp_path):
    result = _probe(*argv, tmp_path=tmp_path)
    assert result["loaded"] == [], f"bioplaus {' '.join(argv)} imported {result['loaded']}"
    assert result["rc"] in (0, 2)


def test_package_attributes_are_imported_on_first_use():
    import bioplaus

    assert {"Protocol", "rules", "tasks", "models", "wrap", "PublishedTarget"} <= set(dir(bioplaus))
    from bioplaus.protocol import Protocol

    assert bioplaus.Protocol is Protocol
    with pytest.raises(AttributeError):
        bioplaus.no_such_name  # noqa: B018


def test_rule_index_matches_the_rule_classes():
    from bioplaus import rules

    index = rule_index()
    assert set(index) == set(rules.REGISTRY)
    for name, entry in index.items():
        cls = rules.REGISTRY[name]
        assert (entry.module, entry.cls) == (cls.__module__, cls.__name__)
        assert entry.description == (cls.__doc__ or "").strip().splitlines()[0]
        assert entry.description, f"rule {name} has no docstring"
        if "title" in vars(cls):
            assert entry.title == cls.title
        if "colour" in vars(cls):
            assert entry.colour == cls.colour


def test_rule_index_reads_declared_title_and_colour_and_skips_bases():
    source = '''
class Base:
    """A base."""
    name: ClassVar[str] = "base"

class Mine(Base):
    """My rule.

    More text."""
    name = "mine"
    title: ClassVar[str] = "my rule"
    colour = "#123456"
'''
    (entry,) = entries_in_source(source, "pkg.mine")
    assert (entry.name, entry.cls, entry.title, entry.colour, entry.description) == ("mine", "Mine", "my rule", "#123456", "My rule.")


def test_title_and_colour_of_a_relabelled_condition():
    title, colour = title_and_colour("feedback_alignment")
    assert title == rule_index()["feedback_alignment"].title
    assert title_and_colour("feedback_alignment", "fa_small_B") == ("fa_small_B", colour)
    assert title_and_colour("not_a_rule") == ("not_a_rule", None)


def test_runs_store_their_title_and_colour_and_old_stores_get_them(tmp_path):
    import sqlite3

    from bioplaus.plotting import condition_styles
    from bioplaus.store import Store

    with Store(tmp_path / "s.sqlite") as store:
        for condition, rule in (("feedback_alignment", "feedback_alignment"), ("fa_small_B", "feedback_alignment")):
            _, run_id = store.claim_run("p", condition, rule, 0, {"c": condition}, "h", owner=None)
            store.finish_run(run_id, "done", [(0, None, "loss", "all", 1.0)])
        df = store.metrics(protocol="p")
        fa_title, fa_colour = title_and_colour("feedback_alignment")
        assert condition_styles(df) == {"feedback_alignment": (fa_title, fa_colour), "fa_small_B": ("fa_small_B", fa_colour)}
    con = sqlite3.connect(tmp_path / "s.sqlite")  # as a store written before titles: no values, schema 2
    con.execute("UPDATE runs SET title = NULL, colour = NULL")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.execute("ALTER TABLE runs DROP COLUMN title")
    con.execute("ALTER TABLE runs DROP COLUMN colour")
    con.commit()
    con.close()
    with Store(tmp_path / "s.sqlite") as store:
        runs = store.runs("p").set_index("condition")
        assert runs.loc["fa_small_B", "title"] == "fa_small_B" and runs.loc["feedback_alignment", "title"] == fa_title
        assert runs.loc["fa_small_B", "colour"] == fa_colour
