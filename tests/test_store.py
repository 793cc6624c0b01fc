"""The results store: kill/resume, skipping finished runs, CSV export, arrays, schema version."""

from __future__ import annotations

import hashlib
import io
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bioplaus import load_protocol
from bioplaus.cli import main
from bioplaus.errors import BioplausError
from bioplaus.execute import run_protocol
from bioplaus.protocol import config_hash
from bioplaus.store import SCHEMA_VERSION, Store
from bioplaus.train import train_run

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_protocol.py"
CSV_COLUMNS = "protocol,condition,rule,seed,step,metric,layer,value"


def write_protocol(
    path: Path, name: str, rules: str, seeds: str, steps: int, record_every: int, metrics: str, lr: float = 1e-2
) -> Path:
    path.write_text(
        f'''"""Test protocol {name}."""
from bioplaus import Protocol, rules, tasks

protocol = Protocol(
    name="{name}",
    task=tasks.LinearTeacher(n_in=30, n_out=10, n_test=200),
    model="linear_30_20_10",
    rules={rules},
    seeds={seeds},
    steps={steps},
    batch_size=20,
    optimizer=("sgd", {{"lr": {lr}}}),
    record_every={record_every},
    metrics={metrics},
)
'''
    )
    return path


def run_cli(*args: str) -> int:
    return main(["run", *map(str, args), "--no-progress", "--no-figure"])


def read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def snapshot(path: Path) -> tuple[list, list, dict[str, str]]:
    """Every row of both tables and a hash of every array file: the store's whole content."""
    con = read_only(path)
    try:
        runs = con.execute("SELECT * FROM runs ORDER BY id").fetchall()
        metrics = con.execute("SELECT rowid, * FROM metrics ORDER BY rowid").fetchall()
    finally:
        con.close()
    arrays_dir = path.with_name(path.name + ".arrays")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(arrays_dir.glob("*"))}
    return runs, metrics, files


def done_count(path: Path) -> int:
    try:
        con = read_only(path)
        try:
            return con.execute("SELECT COUNT(*) FROM runs WHERE status = 'done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # not created yet, or the schema not yet written
        return 0


def test_killed_sweep_keeps_finished_runs_and_resumes_without_duplicates(tmp_path, capsys):
    n_seeds, steps, every = 2, 1000, 250
    script = write_protocol(
        tmp_path / "slow.py", "slow", '["backprop", "feedback_alignment"]', f"range({n_seeds})", steps, every,
        '["loss", "test_loss", "update_angle"]',
    )
    store_path = tmp_path / "store" / "s.sqlite"
    n = 2 * n_seeds
    proc = subprocess.Popen(
        [sys.executable, "-m", "bioplaus.cli", "run", str(script), "--store", str(store_path), "--no-progress", "--no-figure"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while done_count(store_path) < 1:
            assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no run finished within 120 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # The finished runs are intact: status done, every recorded step's metrics, arrays readable.
    with Store(store_path, create=False) as store:
        runs = store.runs("slow")
        done = runs[runs["status"] == "done"]
        assert 1 <= len(done) < n, "the kill must land mid-sweep for this test to mean anything"
        assert set(runs["status"]) <= {"done", "running"}
        expected_steps = set(range(0, steps + 1, every))
        for run_id in done["id"]:
            m = store.metrics(protocol="slow")
            m = m[m["run_id"] == run_id]
            assert set(m["step"]) == expected_steps
            assert set(m["metric"]) == {"loss", "test_loss", "update_angle"}
            assert len(store.arrays(int(run_id))["final/layers.output.weight"]) == 10
        done_runs_before = done[["id", "condition", "seed", "config_hash"]].reset_index(drop=True)
    con = read_only(store_path)
    ids = ",".join(str(int(i)) for i in done_runs_before["id"])
    metric_rows_before = con.execute(f"SELECT rowid, * FROM metrics WHERE run_id IN ({ids}) ORDER BY rowid").fetchall()
    con.close()
    assert metric_rows_before

    capsys.readouterr()
    assert run_cli(script, "--store", store_path) == 0
    out = capsys.readouterr().out
    k = len(done_runs_before)
    assert f"{n - k} run(s) computed ({n - k} done, 0 diverged, 0 failed), {k} already in the store" in out

    with Store(store_path, create=False) as store:
        runs = store.runs("slow")
        assert len(runs) == n
        assert (runs["status"] == "done").all()
        keys = list(zip(runs["condition"], runs["seed"]))
        assert sorted(keys) == sorted((c, s) for c in ("backprop", "feedback_alignment") for s in range(n_seeds))
        kept = runs[runs["id"].isin(done_runs_before["id"])][["id", "condition", "seed", "config_hash"]]
        pd.testing.assert_frame_equal(kept.reset_index(drop=True), done_runs_before)
        metric_run_ids = {r[0] for r in store.conn.execute("SELECT DISTINCT run_id FROM metrics")}
        assert metric_run_ids == set(runs["id"])  # no orphan metric rows of the killed run
    con = read_only(store_path)
    metric_rows_after = con.execute(f"SELECT rowid, * FROM metrics WHERE run_id IN ({ids}) ORDER BY rowid").fetchall()
    con.close()
    assert metric_rows_after == metric_rows_before


def test_rerun_of_a_completed_protocol_computes_nothing_and_changes_nothing(tmp_path, capsys):
    store_path = tmp_path / "s.sqlite"
    assert run_cli(TINY, "--store", store_path) == 0
    before = snapshot(store_path)
    assert len(before[0]) == 6 and before[1] and len(before[2]) == 6
    capsys.readouterr()
    assert run_cli(TINY, "--store", store_path) == 0
    out = capsys.readouterr().out
    assert "tiny: 0 run(s) computed (0 done, 0 diverged, 0 failed), 6 already in the store." in out
    assert snapshot(store_path) == before


def test_results_csv_has_the_tidy_columns_and_one_row_per_metric_row(tmp_path, capsys):
    store_path = tmp_path / "s.sqlite"
    assert run_cli(TINY, "--store", store_path) == 0
    capsys.readouterr()
    assert main(["results", str(store_path), "--format", "csv"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == CSV_COLUMNS
    con = read_only(store_path)
    n_rows = con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    con.close()
    assert n_rows > 0
    assert len(lines) - 1 == n_rows
    csv = pd.read_csv(io.StringIO(out))
    with Store(store_path, create=False) as store:
        stored = store.metrics()
    key = ["condition", "seed", "step", "metric", "layer"]
    merged = csv.merge(stored, on=key, suffixes=("_csv", "_db"), validate="one_to_one")
    assert len(merged) == n_rows
    assert (merged["protocol_csv"] == "tiny").all() and (merged["rule_csv"] == merged["rule_db"]).all()
    np.testing.assert_allclose(merged["value_csv"], merged["value_db"], rtol=1e-9, atol=0)


def test_arrays_hold_initial_final_and_feedback_weights_equal_to_a_direct_train_run(tmp_path):
    store_path = tmp_path / "s.sqlite"
    protocol = load_protocol(TINY)
    with Store(store_path) as store:
        run_protocol(protocol, store, progress=False)
        runs = store.runs("tiny")
        assert len(runs) == 6
        weights = ["layers.hidden1.weight", "layers.output.weight"]
        for _, run in runs.iterrows():
            arrays = store.arrays(int(run["id"]))
            for w in weights:
                assert arrays[f"initial/{w}"].shape == arrays[f"final/{w}"].shape
                assert not np.array_equal(arrays[f"initial/{w}"], arrays[f"final/{w}"]) or (
                    run["rule"] == "shallow" and w == "layers.hidden1.weight"
                )
            assert ("feedback/output" in arrays) == (run["rule"] == "feedback_alignment")
            npz = store.arrays_dir / f"{int(run['id'])}.npz"
            with np.load(npz, allow_pickle=False) as data:  # no object arrays: loads without pickle
                assert set(data.files) == set(arrays)
                assert all(data[k].dtype != object for k in data.files)
        for condition, seed in (("feedback_alignment", 1), ("backprop", 0)):
            run_id = int(runs[(runs["condition"] == condition) & (runs["seed"] == seed)]["id"].iloc[0])
            stored = store.arrays(run_id)
            direct = train_run(protocol, condition, seed)
            assert set(direct.arrays) == set(stored)
            for k, v in direct.arrays.items():
                np.testing.assert_array_equal(stored[k], v, err_msg=f"{condition} seed {seed}: {k}")
        fa = int(runs[(runs["condition"] == "feedback_alignment") & (runs["seed"] == 0)]["id"].iloc[0])
        assert store.arrays(fa)["feedback/output"].shape == (20, 10)  # B_output has the shape of W_output^T


def test_schema_version_is_written_and_a_newer_schema_is_refused(tmp_path, capsys):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(BioplausError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Store(path)
    assert main(["results", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(SCHEMA_VERSION + 1) in err and "Traceback" not in err


@pytest.mark.parametrize("how", ["positional", "--store"])
def test_results_never_creates_a_store(tmp_path, capsys, how):
    path = tmp_path / "nowhere" / "s.sqlite"
    argv = ["results", str(path)] if how == "positional" else ["results", "--store", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "no store" in err
    assert not path.exists() and not path.parent.exists()


def test_a_run_left_running_by_a_kill_is_recomputed(tmp_path):
    protocol = load_protocol(TINY)
    with Store(tmp_path / "s.sqlite") as store:
        config = protocol.run_config("feedback_alignment", 1)
        stale = store.start_run("tiny", "feedback_alignment", "feedback_alignment", 1, config, config_hash(config))
        store.conn.execute("INSERT INTO metrics (run_id, step, epoch, metric, layer, value) VALUES (?, 0, NULL, 'loss', 'all', -123.0)", (stale,))
        assert store.runs("tiny")["status"].tolist() == ["running"]
        report = run_protocol(protocol, store, progress=False)
        assert (report.ran, report.done, report.skipped) == (6, 6, 0)
        runs = store.runs("tiny")
        assert len(runs) == 6 and (runs["status"] == "done").all()
        assert sorted(zip(runs["condition"], runs["seed"])) == sorted(protocol.jobs())
        assert store.conn.execute("SELECT COUNT(*) FROM metrics WHERE value = -123.0").fetchone()[0] == 0
        m = store.metrics(protocol="tiny", condition="feedback_alignment")
        assert len(m[m["seed"] == 1]) == len(m[m["seed"] == 0]) > 0


def test_quick_then_full_into_one_store_is_refused_unless_overwrite(tmp_path, capsys):
    store_path = tmp_path / "s.sqlite"
    assert run_cli(TINY, "--quick", "--store", store_path) == 0
    quick = snapshot(store_path)
    assert len(quick[0]) == 3
    capsys.readouterr()

    assert run_cli(TINY, "--store", store_path) == 2
    err = capsys.readouterr().err
    assert "different configuration" in err and "--overwrite" in err and "'tiny'" in err
    assert "Traceback" not in err
    assert snapshot(store_path) == quick

    assert run_cli(TINY, "--store", store_path, "--overwrite") == 0
    protocol = load_protocol(TINY)
    with Store(store_path, create=False) as store:
        runs = store.runs("tiny")
        assert len(runs) == 6 and (runs["status"] == "done").all()
        for _, r in runs.iterrows():
            assert r["config_hash"] == config_hash(protocol.run_config(r["condition"], int(r["seed"])))
        assert store.metrics(protocol="tiny")["step"].max() == protocol.steps


def test_a_diverging_backprop_reference_does_not_crash_the_sweep(tmp_path, capsys):
    """Shallow learning is stable at lr 0.5 but the lockstep backprop reference blows up: the
    learned-weight metrics become NaN. The sweep must still store every run (no NaN rows)."""
    script = write_protocol(
        tmp_path / "unstable.py", "unstable", '["shallow", "backprop"]', "range(1)", 30, 10,
        '["loss", "weight_distance", "representation_cka"]', lr=0.5,
    )
    store_path = tmp_path / "s.sqlite"
    assert run_cli(script, "--store", store_path) == 0
    assert "Traceback" not in capsys.readouterr().err
    with Store(store_path, create=False) as store:
        runs = store.runs("unstable").set_index("condition")
        assert runs.loc["shallow", "status"] == "done"  # the rule itself never diverged
        assert runs.loc["backprop", "status"] == "diverged"
        m = store.metrics(protocol="unstable", metric="loss", condition="shallow")
        assert sorted(m["step"]) == [0, 10, 20, 30]
        assert np.isfinite(store.metrics(protocol="unstable")["value"]).all()
