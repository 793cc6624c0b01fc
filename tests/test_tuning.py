"""Per-condition optimizers and the step-size search (bioplaus.tuning, bioplaus.search, ``bioplaus tune``)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.cli import main
from bioplaus.errors import BioplausError
from bioplaus.protocol import config_hash, load_protocol
from bioplaus.report import step_size_line
from bioplaus.search import point_label, run_search, search_protocol
from bioplaus.store import Store
from bioplaus.train import train_run
from bioplaus.tuning import StepSizeSearch, scaled_optimizer, validation_task, with_constants

TEACHER = dict(task=tasks.LinearTeacher(n_in=20, n_out=5, n_test=100), model="linear_perceptron_20_5", batch_size=20)


def test_protocol_without_condition_optimizers_keeps_its_run_config_hash():
    """Hashes computed on main before per-condition optimizers existed: existing stores resume without recomputation."""
    p = Protocol(name="hash_guard", rules=[rules.Backprop(), rules.FeedbackAlignment()], seeds=[0, 1], steps=10,
                 optimizer=("adam", {"lr": 1e-3}), **TEACHER)
    assert {c: config_hash(p.run_config(c, 1)) for c, _ in p.jobs()} == {"backprop": "2729f8827ae8d85e",
                                                                        "feedback_alignment": "4fe1e3ffde5a27fc"}


def test_condition_optimizer_is_stored_and_scales_the_first_update():
    """SGD's first update is -lr x gradient: the same rule and seed at lr 0.01 and 0.03 move the weights 1 : 3."""
    p = Protocol(name="per_condition_lr", rules=[Condition(rules.Backprop(), label="slow"),
                                                Condition(rules.Backprop(), label="fast", optimizer=("sgd", {"lr": 0.03}))],
                 seeds=[0], steps=1, optimizer=("sgd", {"lr": 0.01}), metrics=["loss"], **TEACHER)
    assert p.run_config("slow", 0)["optimizer"] == ["sgd", {"lr": 0.01}]
    assert p.run_config("fast", 0)["optimizer"] == ["sgd", {"lr": 0.03}]
    moves = {}
    for label in ("slow", "fast"):
        arrays = train_run(p, label, 0).arrays
        moves[label] = arrays["final/layers.output.weight"].astype(np.float64) - arrays["initial/layers.output.weight"]
    assert np.abs(moves["slow"]).max() > 0
    np.testing.assert_allclose(moves["fast"], 3 * moves["slow"], rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("optimizer, words", [(("sgd", {"lr": -1.0}), "'lr' must be a finite number > 0"),
                                              (("sgd", {"lrr": 0.1}), "does not take the keyword"),
                                              (("nesterov", {"lr": 0.1}), "unknown optimizer")])
def test_bad_condition_optimizer_is_one_paragraph_naming_the_condition(optimizer, words):
    with pytest.raises(BioplausError) as e:
        Protocol(name="bad", rules=[Condition(rules.Backprop(), label="mine", optimizer=optimizer)], **TEACHER)
    assert "condition 'mine'" in str(e.value) and words in str(e.value) and "\n" not in str(e.value)


def test_bad_condition_lr_exits_2_at_the_cli(tmp_path, capsys):
    script = tmp_path / "bad_lr.py"
    script.write_text(textwrap.dedent("""
        from bioplaus import Condition, Protocol, rules, tasks
        protocol = Protocol(name="bad_lr", task=tasks.LinearTeacher(n_in=20, n_out=5), model="linear_perceptron_20_5",
                            rules=[Condition(rules.Backprop(), optimizer=("sgd", {"lr": float("nan")}))])
    """))
    assert main(["run", str(script), "--store", str(tmp_path / "s.sqlite"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "condition 'backprop'" in err[0] and "finite number > 0" in err[0]  # one paragraph


def test_layer_lr_on_a_feedforward_condition_is_caught_at_build():
    with pytest.raises(BioplausError, match="layer_lr"):
        Protocol(name="mixed", task=tasks.OneHotSquaredError(tasks.MNIST1D()), model="ep_mnist1d_1h",
                 rules=[rules.Backprop(), Condition(rules.Backprop(label="linear"), model="linear_mnist1d")],
                 optimizer=("sgd", {"lr": 0.05, "layer_lr": {"hidden1": 0.1}}))


def test_scaled_optimizer_scales_every_rate():
    assert scaled_optimizer(("sgd", {"lr": 0.05, "layer_lr": {"h": 0.1}, "momentum": 0.9}), 2.0) == \
        ("sgd", {"lr": 0.1, "layer_lr": {"h": 0.2}, "momentum": 0.9})
    assert scaled_optimizer(("adam", {}), 3.0) == ("adam", {"lr": pytest.approx(3e-3)})  # torch's default lr 1e-3


def test_rule_constants_are_revalidated_and_keep_the_label():
    ep = rules.EquilibriumPropagation(beta=0.5, nudging="centered", label="cep")
    other = with_constants(ep, {"beta": 0.2})
    assert (other.beta, other.nudging, other.label, ep.beta) == (0.2, "centered", "cep", 0.5)
    with pytest.raises(BioplausError, match="beta"):
        with_constants(ep, {"beta": -1.0})


def test_validation_task_reaches_through_wrappers():
    v = validation_task(tasks.ByDataDir(default=tasks.OneHotSquaredError(tasks.MNIST1D()),
                                        with_data_dir=tasks.OneHotSquaredError(tasks.MNIST())), "here")
    assert v.task.split == "validation"
    assert validation_task(tasks.YinYang(), "here").split == "validation"
    assert validation_task(tasks.Digits(side=28), "here").config() == {"task": "digits", "image": False, "side": 28, "split": "validation"}
    assert tasks.Digits().config() == {"task": "digits", "image": False}  # unchanged: stored digits runs keep their hash


def test_digits_validation_split_is_held_out_from_training():
    import torch

    from bioplaus.tasks.digits import digits_arrays

    x_tr, _, x_te, _ = digits_arrays()
    val = tasks.Digits(split="validation").instantiate(torch.Generator().manual_seed(0), None, "cpu", 32)
    assert val.n_train == len(x_tr) - 360 and torch.equal(val.test[0], torch.tensor(x_tr[-360:]))
    assert not torch.equal(val.test[0], torch.tensor(x_te))
    with pytest.raises(BioplausError, match="no validation split"):
        validation_task(tasks.LinearTeacher(), "here")


def test_search_declaration_is_checked_against_the_protocol():
    with pytest.raises(BioplausError, match="unknown conditions"):
        Protocol(name="t", rules=[rules.Backprop()], tuning=StepSizeSearch(conditions=("nope",)), **TEACHER)
    with pytest.raises(BioplausError, match="no validation split"):
        Protocol(name="t", rules=[rules.Backprop()], tuning=StepSizeSearch(metric="test_loss", goal="min"), **TEACHER)
    with pytest.raises(BioplausError, match="disjoint"):
        Protocol(name="t", rules=[rules.Backprop()], seeds=[0], **TEACHER,
                 tuning=StepSizeSearch(metric="test_loss", goal="min", held_out="seeds", seeds=(0,)))
    with pytest.raises(BioplausError, match="no numeric constant"):
        Protocol(name="t", rules=[rules.Backprop()], **TEACHER,
                 tuning=StepSizeSearch(metric="test_loss", goal="min", held_out="seeds", seeds=(9,), constants={"backprop": {"beta": [1]}}))


SCRIPT = """
from bioplaus import Protocol, rules, tasks
from bioplaus.tuning import StepSizeSearch

protocol = Protocol(
    name="tiny_tuned", task=tasks.LinearTeacher(n_in=20, n_out=5, n_test=100), model="linear_perceptron_20_5",
    rules=[rules.Backprop(), rules.FeedbackAlignment()], seeds=[0], steps=60, batch_size=20,
    optimizer=("sgd", {"lr": 0.03}), metrics=["loss", "test_loss"],
    tuning=StepSizeSearch(lr_scale=(1.0, 1e-4), conditions=("backprop",), metric="test_loss", goal="min",
                          held_out="seeds", seeds=(10, 11), steps=60),
)
"""


def test_search_picks_the_known_best_rate_resumes_and_is_used(tmp_path, recwarn):
    """A linear regression trained 60 SGD steps at lr 3e-6 barely moves, at 0.03 it learns: the search must pick
    factor 1 (listed second, so order alone would not), run nothing the second time, and the loaded protocol
    must then run backprop at the selected rate while feedback alignment (not searched) keeps the protocol's."""
    script = tmp_path / "tiny_tuned.py"
    script.write_text(SCRIPT)
    untuned = load_protocol(script)  # no selection file yet: a warning, and the declared settings
    assert any("does not exist" in str(w.message) for w in recwarn) and untuned.selection is None
    protocol = load_protocol(script, tuned=False)
    derived = search_protocol(protocol)
    assert [c.label for c in derived.conditions] == [point_label("backprop", 1e-4, {}), point_label("backprop", 1.0, {})]
    assert derived.condition("backprop [lr x 0.0001]").optimizer == ("sgd", {"lr": pytest.approx(3e-6)})
    with Store(tmp_path / "t.sqlite") as store:
        out, selection, report = run_search(protocol, store, progress=False)
        assert report.ran == 4 and out == tmp_path / "tiny_tuned.tuned.json"
        assert selection["selected"]["backprop"]["lr_scale"] == 1.0
        lo, hi = (selection["scores"][point_label("backprop", s, {})]["score"] for s in (1.0, 1e-4))
        assert lo < 0.5 * hi
        assert selection["cost"]["runs"] == 4 and selection["cost"]["run_seconds"] >= 0  # tiny runs can take under the clock's resolution
        _, again, report2 = run_search(protocol, store, progress=False)
        assert report2.ran == 0 and report2.skipped == 4 and again["selected"] == selection["selected"]
    data = json.loads(out.read_text())  # plain JSON
    assert data["selected"]["backprop"]["optimizer"] == ["sgd", {"lr": 0.03}]
    tuned = load_protocol(script)
    assert tuned.selection is not None and tuned.condition("backprop").optimizer == ("sgd", {"lr": 0.03})
    assert tuned.condition("feedback_alignment").optimizer == ("sgd", {"lr": 0.03})
    line = step_size_line(tuned.quick_version())  # what `run` and `reproduce` print beside the claims
    assert "backprop x 1 (test_loss" in line and "Search cost: 4 runs" in line
    assert "no valid selection" in step_size_line(untuned)
    # a selection made for another search is not used
    script.write_text(SCRIPT.replace("steps=60),", "steps=61),"))
    recwarn.clear()
    stale = load_protocol(script)
    assert stale.selection is None and any("another search" in str(w.message) for w in recwarn)


def test_selected_factor_and_constants_reach_the_runs(tmp_path):
    """A hand-written selection with factor 3 and a new beta: the runs' stored configuration carries both."""
    script = tmp_path / "ep_tuned.py"
    script.write_text(textwrap.dedent("""
        from bioplaus import Protocol, rules, tasks
        from bioplaus.tuning import StepSizeSearch
        protocol = Protocol(name="ep_tuned", task=tasks.OneHotSquaredError(tasks.MNIST1D()), model="ep_mnist1d_1h",
                            rules=[rules.EquilibriumPropagation(beta=0.5, nudging="centered", label="cep")],
                            optimizer=("sgd", {"lr": 0.05, "layer_lr": {"hidden1": 0.1}}), metrics=["test_accuracy"],
                            tuning=StepSizeSearch(lr_scale=(1.0, 3.0), constants={"cep": {"beta": [0.2, 0.5]}}))
    """))
    from bioplaus.tuning import FORMAT, search_key

    p = load_protocol(script, tuned=False)
    (tmp_path / "ep_tuned.tuned.json").write_text(json.dumps({
        "format": FORMAT, "search_key": search_key(p), "budget": {"steps": 1}, "cost": {"runs": 4, "run_seconds": 1.0},
        "selected": {"cep": {"lr_scale": 3.0, "constants": {"beta": 0.2}, "score": 0.9, "optimizer": []}}}))
    tuned = load_protocol(script)
    config = tuned.run_config("cep", 0)
    assert config["optimizer"] == ["sgd", {"lr": pytest.approx(0.15), "layer_lr": {"hidden1": pytest.approx(0.3)}}]
    assert config["rule"]["beta"] == 0.2 and config["condition"] == "cep"
    assert tuned.quick_version().condition("cep").rule.beta == 0.2


def test_tune_command_writes_the_selection(tmp_path, capsys):
    script = tmp_path / "tiny_tuned.py"
    script.write_text(SCRIPT)
    out = tmp_path / "chosen.json"
    assert main(["tune", str(script), "--store", str(tmp_path / "t.sqlite"), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "4 run(s) computed" in printed and f"selection: {out}" in printed
    assert json.loads(out.read_text())["selected"]["backprop"]["lr_scale"] == 1.0
    assert main(["tune", str(tmp_path / "missing.py")]) == 2


def test_selection_breaks_ties_towards_the_smaller_factor_and_skips_diverged_points():
    from bioplaus.search import select

    p = Protocol(name="ties", rules=[rules.Backprop(), rules.FeedbackAlignment()], seeds=[0], **TEACHER,
                 tuning=StepSizeSearch(lr_scale=(3.0, 1.0, 10.0), metric="test_loss", goal="min", held_out="seeds", seeds=(5,)))
    scores = {point_label("backprop", 1.0, {}): 1.6238450291376931, point_label("backprop", 3.0, {}): 1.6238450291376916,
              point_label("backprop", 10.0, {}): 5.0, point_label("feedback_alignment", 1.0, {}): 2.0,
              point_label("feedback_alignment", 3.0, {}): float("inf"), point_label("feedback_alignment", 10.0, {}): 1.0}
    chosen = select(p, {k: {"score": v} for k, v in scores.items()})
    assert chosen["backprop"]["lr_scale"] == 1.0  # equal to rounding: the smaller factor
    assert chosen["feedback_alignment"]["lr_scale"] == 10.0 and chosen["feedback_alignment"]["optimizer"] == ["sgd", {"lr": 0.1}]
