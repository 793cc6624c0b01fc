"""A new user's first hour (issue 16): fast start-up, the rule index, absurd settings caught
when a protocol is built, tables that never pool conditions, figures that read their labels
from the store."""

from __future__ import annotations

import math
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bioplaus.errors import BioplausError
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


@pytest.mark.parametrize("argv", [("--help",), ("list",), ("run", "--help"), ("results",), ("lst",), ("run", "--workers", "0", "x.py"),
                                  ("tune", "--help"), ("tune", "--workers", "0", "x.py")])
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
    assert set(index) == set(rules.rule_names()) and len(index) >= 26
    for name, entry in index.items():
        cls = rules.rule_class(name)
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
    con.execute("DROP TABLE summaries")
    con.commit()
    con.close()
    with Store(tmp_path / "s.sqlite") as store:
        runs = store.runs("p").set_index("condition")
        assert runs.loc["fa_small_B", "title"] == "fa_small_B" and runs.loc["feedback_alignment", "title"] == fa_title
        assert runs.loc["fa_small_B", "colour"] == fa_colour


# -- absurd settings: one paragraph, exit 2, store untouched --------------------------------------------


def _protocol(tmp_path: Path, **fields: str) -> Path:
    settings = {"task": "tasks.LinearTeacher(n_in=30, n_out=10, n_test=50)", "model": '"linear_30_20_10"',
                "rules": '["backprop"]', "steps": "10", "batch_size": "10", "optimizer": '("sgd", {"lr": 0.01})',
                "metrics": '["loss"]', **fields}
    body = ",\n    ".join(f"{k}={v}" for k, v in settings.items())
    path = tmp_path / "absurd.py"
    path.write_text(f'"""absurd settings"""\nfrom bioplaus import Protocol, rules, tasks\n\n'
                    f'protocol = Protocol(\n    name="absurd", seeds=range(1), record_every=5,\n    {body},\n)\n')
    return path


def _fails_cleanly(capsys, tmp_path: Path, script: Path, *needles: str, extra: tuple[str, ...] = ()) -> None:
    from bioplaus.cli import main

    store = tmp_path / "store.sqlite"
    capsys.readouterr()
    code = main(["run", str(script), "--store", str(store), "--no-progress", "--no-figure", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and "\n" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    assert not store.exists(), "the store was created or written"


@pytest.mark.parametrize("lr", ["-0.1", "0.0", "float('inf')", "float('nan')", "'fast'"])
def test_a_learning_rate_that_is_not_finite_and_positive_is_refused(capsys, tmp_path, lr):
    _fails_cleanly(capsys, tmp_path, _protocol(tmp_path, optimizer=f'("sgd", {{"lr": {lr}}})'), "'lr'", "finite number > 0")


def test_a_tiny_learning_rate_stays_valid(tmp_path):
    from bioplaus.protocol import load_protocol

    assert load_protocol(_protocol(tmp_path, optimizer='("sgd", {"lr": 1e-12})')).optimizer[1]["lr"] == 1e-12


def test_a_misspelled_optimizer_keyword_lists_the_allowed_ones(capsys, tmp_path):
    _fails_cleanly(capsys, tmp_path, _protocol(tmp_path, optimizer='("sgd", {"lrr": 0.01})'), "'lrr'", "'momentum'", "'weight_decay'")


def test_layer_lr_is_an_energy_model_keyword_only(capsys, tmp_path):
    _fails_cleanly(capsys, tmp_path, _protocol(tmp_path, optimizer='("sgd", {"lr": 0.1, "layer_lr": {"hidden1": 0.1}})'),
                   "'layer_lr'", "energy")


def test_a_layer_too_large_to_allocate_is_refused_before_allocation(capsys, tmp_path):
    spec = tmp_path / "huge.toml"
    spec.write_text('kind = "feedforward"\nsizes = [30, 100000000000, 10]\nactivations = ["linear", "linear"]\n')
    _fails_cleanly(capsys, tmp_path, _protocol(tmp_path, model=repr(str(spec))), "sizes[1]", "100,000,000,000")


def test_a_condition_with_a_model_too_large_is_refused_at_load():
    from bioplaus import Condition, Protocol, rules, tasks
    from bioplaus.errors import BioplausError

    with pytest.raises(BioplausError, match=r"condition 'big'\): field 'n_hidden' is 100,000,000 units"):
        Protocol(name="x", task=tasks.DelayedRecall(delay=3), model="rnn32_delayed_recall",
                 rules=[rules.UORO(), Condition(rules.UORO(), model={"n_hidden": 10**8}, label="big")])


def test_a_batch_larger_than_the_training_set_is_refused(capsys, tmp_path):
    from bioplaus.tasks.digits import digits_arrays

    n = len(digits_arrays()[0])
    _fails_cleanly(capsys, tmp_path, _protocol(tmp_path, task="tasks.Digits()", model='"mlp_digits"', batch_size=str(n + 1)),
                   "'batch_size'", f"{n} training examples")


def test_quick_on_a_protocol_without_quick_is_refused(capsys, tmp_path):
    _fails_cleanly(capsys, tmp_path, _protocol(tmp_path), "--quick", "quick", extra=("--quick",))


def test_steps_zero_without_fixed_parameter_metrics_warns(tmp_path):
    from bioplaus.protocol import load_protocol
    from bioplaus.settings_check import SettingsWarning

    with pytest.warns(SettingsWarning, match="only step-0 values"):
        load_protocol(_protocol(tmp_path, steps="0"))


# -- statistics that say what they are ----------------------------------------------------------------


def _hand_store(path: Path):
    from bioplaus.store import Store

    store = Store(path)
    runs = {  # (condition, rule, seed): rows (step, epoch, metric, layer, value)
        ("a", "backprop", 0): [(0, None, "loss", "all", 4.0), (10, None, "loss", "all", 1.0), (0, None, "x", "all", 7.0)],
        ("a", "backprop", 1): [(0, None, "loss", "all", 4.0), (10, None, "loss", "all", 3.0), (0, None, "x", "all", 7.0)],
        ("b", "feedback_alignment", 0): [(0, None, "loss", "all", 4.0), (5, None, "loss", "all", 100.0), (10, None, "loss", "all", 0.5)],
    }
    for (condition, rule, seed), rows in runs.items():
        _, run_id = store.claim_run("p", condition, rule, seed, {"seed": seed}, "h", owner=None)
        store.finish_run(run_id, "done", rows)
    return store


def test_summary_rows_are_conditions_never_pooled_and_no_spread_for_one_seed(tmp_path):
    from bioplaus.report import summary_table

    with _hand_store(tmp_path / "s.sqlite") as store:
        table = summary_table(store, "p", columns=[("loss", "all"), ("x", "all")])
    rows = {line.split()[0]: line for line in table.splitlines()[3:]}
    assert set(rows) == {"a", "b"}
    assert rows["a"].split()[1] == "2" and "4 -> 2 ± 1" in rows["a"]  # mean and s.d. of a's two seeds only
    assert rows["b"].split()[1] == "1" and "4 -> 0.5" in rows["b"] and "±" not in rows["b"]
    assert "7" not in rows["a"].split("->", 1)[1], "a step-0-only value was shown as 'last'"
    assert "step 10" in table.splitlines()[0]


def test_run_and_results_show_the_same_columns(tmp_path, capsys):
    from bioplaus.cli import main

    script = _protocol(tmp_path, metrics='["loss", "test_loss", "update_angle"]')
    script.write_text(script.read_text().replace('metrics=["loss"', 'summary=[("update_angle", "all"), ("loss", "all")], metrics=["loss"'))
    store = tmp_path / "s.sqlite"
    capsys.readouterr()
    assert main(["run", str(script), "--store", str(store), "--no-progress", "--no-figure"]) == 0
    run_out = capsys.readouterr().out
    assert main(["results", str(store)]) == 0
    results_out = capsys.readouterr().out

    def table(text: str) -> list[str]:
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("absurd: first recorded"))
        return lines[start:start + 4]

    assert table(run_out) == table(results_out)
    assert table(run_out)[1].split() == ["condition", "seeds", "update_angle", "loss"]


# -- divergence criterion (pure; the run loop calls it) -----------------------------------------------


def test_a_sustained_explosion_diverges_at_its_first_step():
    from bioplaus.divergence import diverged, diverged_at

    losses = [50.0, 40.0] + [2e5] * 12
    assert diverged_at(losses, 50.0, factor=1e3, patience=10) == 2
    assert diverged(losses, 50.0)
    assert diverged_at([50.0, 40.0, 2e5, 30.0] * 5, 50.0, patience=3) is None  # isolated spikes are noise
    assert diverged_at([50.0, 3e4, 3e4, 3e4], 50.0, factor=1e3, patience=3) is None  # 600x is below the factor
    assert diverged_at([1.0, float("nan")], 1.0) == 1
    assert diverged_at([1.0, float("inf")], 1.0, patience=50) == 1
    assert diverged_at([1e-7] * 20, 0.0) is None  # an initial loss of 0 does not make every loss explode


def test_a_bad_divergence_setting_is_one_paragraph():
    from bioplaus.divergence import DivergenceCriterion

    with pytest.raises(BioplausError, match="'factor' must be a finite number > 1"):
        DivergenceCriterion(factor=0.5)
    with pytest.raises(BioplausError, match="'patience'"):
        DivergenceCriterion(patience=0)


def test_run_says_when_no_figure_matches_and_finds_one_by_protocol_name(tmp_path, capsys):
    from bioplaus.cli import main
    from bioplaus.plotting import figure_for

    (tmp_path / "protocols").mkdir()
    script = _protocol(tmp_path / "protocols")
    store = tmp_path / "s.sqlite"
    capsys.readouterr()
    assert main(["run", str(script), "--store", str(store), "--no-progress"]) == 0
    assert "figure: none; no figure script figures/absurd.py" in capsys.readouterr().out
    (tmp_path / "figures").mkdir()  # the folder beside the script's folder
    (tmp_path / "figures" / "absurd.py").write_text("def make(store): ...\n")
    assert figure_for(str(script), "absurd") == tmp_path / "figures" / "absurd.py"
    shipped = figure_for(str(REPO / "protocols" / "scellier2017_digits_2h.py"), "scellier2017_digits_2h")
    assert shipped == REPO / "figures" / "scellier2017_digits_2h.py"


def test_a_run_whose_loss_explodes_is_stored_as_diverged_with_its_step(tmp_path):
    """A too-large step on the linear teacher: the loss grows by orders of magnitude while still finite; the
    criterion stops the run there, earlier than the NaN that ends it without the criterion."""
    import dataclasses

    from bioplaus import Protocol, rules, tasks
    from bioplaus.divergence import DivergenceCriterion, DivergenceWatch, diverged_at
    from bioplaus.train import train_run

    p = Protocol(name="boom", task=tasks.LinearTeacher(n_in=30, n_out=10), model="linear_30_20_10", rules=[rules.Backprop()],
                 seeds=[0], steps=40, batch_size=20, optimizer=("sgd", {"lr": 0.05}), record_every=5, metrics=["loss"])
    calm = train_run(p, "backprop", 0)
    assert calm.status == "done" and calm.steps_done == 40
    boom = dataclasses.replace(p, optimizer=("sgd", {"lr": 0.2}), record_every=1, divergence=DivergenceCriterion(factor=10.0, patience=2))
    result = train_run(boom, "backprop", 0)
    assert result.status == "diverged" and result.diverged_step is not None and result.diverged_step < 40
    assert all(math.isfinite(v) for *_, v in result.rows)  # it never reached NaN: the criterion stopped it
    off = train_run(dataclasses.replace(boom, divergence=None), "backprop", 0)
    assert off.status == "diverged" and off.diverged_step > result.diverged_step  # NaN, later
    # the incremental watch agrees with the pure function on a sequence
    losses = [1.0, 5.0, 200.0, 300.0, 2.0, 500.0, 600.0, 700.0, 800.0]
    watch = DivergenceWatch(DivergenceCriterion(factor=100.0, patience=3))
    first = next((i for i, x in enumerate(losses) if watch.update(x) is not None), None)
    assert first is not None and diverged_at(losses[1:], losses[0], factor=100.0, patience=3) + 1 == 5
    assert "divergence" not in p.run_config("backprop", 0) and boom.run_config("backprop", 0)["divergence"]["factor"] == 10.0
