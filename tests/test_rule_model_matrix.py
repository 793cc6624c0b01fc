"""Every rule on every shipped kind of model: accepted when the model offers what the rule ``requires``,
else a one-paragraph error at protocol load (exit 2 at the CLI) naming the rule, the model and what it lacks.

The (task, model) pairs are those of the shipped protocols, so every model kind a user meets is covered.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bioplaus import Protocol, models, tasks
from bioplaus.cli import main
from bioplaus.errors import BioplausError
from bioplaus.protocol import load_protocol
from bioplaus.rules.registry import get_rule, rule_index, rule_names
from bioplaus.spiking import STDP, DopamineSTDP, ThreeFactor

PROTOCOLS = Path(__file__).resolve().parent.parent / "protocols"


def shipped_pairs() -> dict[str, tuple]:
    """One (task, model spec) per model spec used by a shipped protocol (and the ConvNet spec), keyed by the spec's name."""
    pairs = {}
    for script in sorted(PROTOCOLS.glob("*.py")):
        p = load_protocol(script)
        pairs.setdefault(p.model.name, (p.task, p.model))
    # a shipped spec whose kind no shipped protocol uses since akrout2019_digits moved to MNIST-1D's MLP
    convnet = Protocol(name="convnet", task=tasks.Digits(image=True), model="convnet_digits", rules=["backprop"], steps=1)
    pairs.setdefault(convnet.model.name, (convnet.task, convnet.model))
    return pairs


PAIRS = shipped_pairs()
SPIKING_RULES = {"stdp": lambda: STDP("additive"), "da_stdp": lambda: DopamineSTDP(), "three_factor": lambda: ThreeFactor()}


def rule_objects():
    for name in rule_names():
        yield name, get_rule(name)
    for name, make in SPIKING_RULES.items():
        yield name, make()


def test_every_model_kind_is_covered():
    assert {spec.kind for _, spec in PAIRS.values()} == set(models.KINDS)


@pytest.mark.parametrize("model_name", sorted(PAIRS))
def test_rules_are_accepted_exactly_where_the_model_offers_what_they_need(model_name):
    task, spec = PAIRS[model_name]
    has = models.capabilities(spec)
    accepted = refused = 0
    for name, rule in rule_objects():
        missing = set(rule.requires) - has
        if not missing:
            Protocol(name="m", task=task, model=spec, rules=[rule], steps=1)
            accepted += 1
            continue
        with pytest.raises(BioplausError) as e:
            Protocol(name="m", task=task, model=spec, rules=[rule], steps=1)
        text = str(e.value)
        assert "\n" not in text
        assert f"rule {rule.name!r} cannot run on model '{spec.name}' (kind '{spec.kind}')" in text
        assert all(f"'{m}'" in text for m in missing)
        refused += 1
    assert accepted >= 1 and refused >= 1  # every kind runs some rule and refuses another


def test_the_index_describes_every_rule_as_its_class_does():
    for name, entry in rule_index().items():
        rule = get_rule(name)
        assert rule.label == name
        if name != "bptt":  # an alias of backprop
            assert (rule.name, type(rule).title or rule.name, type(rule).colour) == (name, entry.title, entry.colour)
        assert entry.description and entry.colour.startswith("#"), name


def test_a_bad_pairing_is_an_exit_2_error_at_load_before_any_run(tmp_path, capsys):
    script = tmp_path / "bad.py"
    script.write_text("from bioplaus import Protocol, rules, tasks\n"
                      "protocol = Protocol(name='bad', task=tasks.Digits(), model='mlp_digits', rules=[rules.UORO()], steps=5)\n")
    store = tmp_path / "s.sqlite"
    assert main(["run", str(script), "--store", str(store), "--no-progress", "--no-figure"]) == 2
    err = capsys.readouterr().err.strip()
    assert "rule 'uoro' cannot run on model 'mlp_digits' (kind 'feedforward')" in err and "'recurrent'" in err
    assert "\n" not in err and "Traceback" not in err
    assert not store.exists()


@pytest.mark.parametrize("metric, rules_, why", [
    ("relax_steps", ["backprop"], "does not relax"),
    ("weight_angle", ["backprop", "shallow"], "has no feedback weights"),
    ("test_accuracy", ["backprop"], "does not evaluate it"),
    ("estimate_variance", ["feedback_alignment"], "not a stochastic estimator"),
    ("mean_weight", ["backprop"], "spiking (Brian2) simulations only"),
])
def test_a_metric_no_condition_can_record_is_an_error_at_load(metric, rules_, why):
    with pytest.raises(BioplausError, match=f"'{metric}' cannot be recorded by any condition.*{re.escape(why)}"):
        Protocol(name="m", task=PAIRS["linear_30_20_10"][0], model="linear_30_20_10", rules=rules_, metrics=[metric])
    # recorded by one condition of several: accepted (the others record what applies to them)
    Protocol(name="m", task=PAIRS["linear_30_20_10"][0], model="linear_30_20_10", rules=["feedback_alignment", "backprop"],
             metrics=["weight_angle"])


def test_every_shipped_protocol_records_only_metrics_some_condition_can_record():
    for script in sorted(PROTOCOLS.glob("*.py")):
        p = load_protocol(script)
        p.quick_version()  # both versions are built, hence checked
