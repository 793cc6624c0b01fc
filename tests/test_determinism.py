"""The same seed gives the same numbers, bit for bit: run twice, serial or pool, with or without other rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bioplaus import load_protocol
from bioplaus.cli import main
from bioplaus.execute import run_protocol
from bioplaus.store import Store

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_protocol.py"
KEY = ["condition", "rule", "seed", "step", "metric", "layer"]


def tidy(store: Store) -> pd.DataFrame:
    """Metric rows without run ids, in a canonical order."""
    df = store.metrics(protocol="tiny")[[*KEY, "epoch", "value"]]
    return df.sort_values(KEY).reset_index(drop=True)


def arrays_by_job(store: Store) -> dict[tuple[str, int], dict[str, np.ndarray]]:
    runs = store.runs("tiny")
    return {(r.condition, int(r.seed)): store.arrays(int(r.id)) for r in runs.itertuples()}


def assert_same_arrays(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for job in a:
        assert a[job].keys() == b[job].keys()
        for k in a[job]:
            np.testing.assert_array_equal(a[job][k], b[job][k], err_msg=f"{job}: {k}")


@pytest.fixture(scope="module")
def serial_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("serial") / "s.sqlite"
    with Store(path) as store:
        report = run_protocol(load_protocol(TINY), store, progress=False)
        assert report.done == 6
    store = Store(path, create=False)
    yield store
    store.close()


def test_same_protocol_and_seeds_twice_give_identical_metrics(tmp_path, serial_store):
    with Store(tmp_path / "again.sqlite") as again:
        run_protocol(load_protocol(TINY), again, progress=False)
        first, second = tidy(serial_store), tidy(again)
        assert len(first) > 100
        pd.testing.assert_frame_equal(first, second, check_exact=True)
        assert_same_arrays(arrays_by_job(serial_store), arrays_by_job(again))


@pytest.mark.slow  # starts a process pool
def test_pool_executor_gives_the_serial_numbers_bit_for_bit(tmp_path, serial_store, capsys):
    path = tmp_path / "pool.sqlite"
    assert main(["run", str(TINY), "--store", str(path), "--workers", "2", "--no-progress", "--no-figure"]) == 0
    assert "6 run(s) computed (6 done" in capsys.readouterr().out
    with Store(path, create=False) as pool:
        pd.testing.assert_frame_equal(tidy(serial_store), tidy(pool), check_exact=True)
        assert_same_arrays(arrays_by_job(serial_store), arrays_by_job(pool))


@pytest.mark.slow  # starts a process pool
def test_pool_executor_runs_the_protocol_it_is_given(tmp_path):
    """run_protocol(p, store, workers=2) must compute p, not what p's script builds: here the
    script's quick version with one rule (a library user's natural call, without quick=True)."""
    base = load_protocol(TINY)
    # 30 steps, record every 10, seed 0, FA alone (backprop alone records no feedback metrics: an error at load)
    protocol = dataclasses.replace(base.quick_version(), rules=[r for r in base.rules if r.label == "feedback_alignment"])
    frames = []
    for workers in (1, 2):
        with Store(tmp_path / f"w{workers}.sqlite") as store:
            assert run_protocol(protocol, store, workers=workers, progress=False).done == 1
            frames.append(tidy(store))
    assert sorted(set(frames[0]["step"])) == [0, 10, 20, 30]
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)


def test_adding_a_rule_does_not_change_the_other_rules_results(tmp_path, serial_store):
    full = load_protocol(TINY)
    # (shallow is left out: without FA no condition records the feedback metrics, which is an error at load)
    without_shallow = dataclasses.replace(full, rules=[r for r in full.rules if r.label != "shallow"])
    assert [c.label for c in without_shallow.conditions] == ["backprop", "feedback_alignment"]
    with Store(tmp_path / "s.sqlite") as store:
        assert run_protocol(without_shallow, store, progress=False).done == 4
        two_rules = tidy(store)
        three_rules = tidy(serial_store)
        three_rules = three_rules[three_rules["condition"] != "shallow"].reset_index(drop=True)
        pd.testing.assert_frame_equal(two_rules, three_rules, check_exact=True)

        # Adding the rule to the protocol and re-running computes only the new rule's runs.
        report = run_protocol(full, store, progress=False)
        assert (report.ran, report.skipped) == (2, 4)
        pd.testing.assert_frame_equal(tidy(store), tidy(serial_store), check_exact=True)


def test_backprop_reference_inside_a_rule_run_ends_at_the_backprop_runs_weights(serial_store):
    arrays = arrays_by_job(serial_store)
    checked = 0
    for (condition, seed), a in arrays.items():
        if condition == "backprop":
            continue
        bp = arrays[("backprop", seed)]
        refs = sorted(k for k in a if k.startswith("reference/"))
        assert refs == ["reference/layers.hidden1.weight", "reference/layers.output.weight"]
        for k in refs:
            w = k.removeprefix("reference/")
            np.testing.assert_array_equal(a[f"initial/{w}"], bp[f"initial/{w}"], err_msg=f"{condition} seed {seed}: initial {w}")
            np.testing.assert_array_equal(a[k], bp[f"final/{w}"], err_msg=f"{condition} seed {seed}: {k} vs backprop final")
            checked += 1
    assert checked == 8  # (feedback_alignment, shallow) x 2 seeds x 2 layers
