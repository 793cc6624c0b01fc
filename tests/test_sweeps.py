"""Sweeps that never lose work: run claims, concurrent sweeps, kills, retries, divergence,
schema migration, and the Ray executor giving the serial numbers."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bioplaus import load_protocol
from bioplaus.cli import main
from bioplaus.execute import run_protocol
from bioplaus.protocol import config_hash
from bioplaus.leases import LEASE_S, Heartbeat, new_owner, owner_is_alive
from bioplaus.store import SCHEMA_VERSION, Store

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_protocol.py"
KEY = ["condition", "seed", "step", "metric", "layer"]


def teacher_protocol(path: Path, name: str, rules: str, steps: int, seeds: int = 2, lr: float = 1e-2,
                     record_every: int | None = None, extra: str = "") -> Path:
    path.write_text(
        f'''"""Test protocol {name}."""
from pathlib import Path
import torch
from bioplaus import Protocol, rules, tasks
{extra}
protocol = Protocol(
    name="{name}",
    task=tasks.LinearTeacher(n_in=30, n_out=10, n_test=100),
    model="linear_30_20_10",
    rules={rules},
    seeds=range({seeds}),
    steps={steps},
    batch_size=20,
    optimizer=("sgd", {{"lr": {lr}}}),
    record_every={record_every or max(steps // 4, 1)},
    metrics=["loss", "test_loss", "update_angle"],
)
'''
    )
    return path


def metrics_table(store_path: Path, protocol: str) -> pd.DataFrame:
    with Store(store_path, create=False) as store:
        df = store.metrics(protocol=protocol)
    return df[KEY + ["value"]].sort_values(KEY).reset_index(drop=True)


def cli_process(script: Path, store: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bioplaus", "run", str(script), "--store", str(store), "--no-progress", "--no-figure", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


# -- claims --------------------------------------------------------------------------------


def claim(store: Store, owner: str | None, condition: str = "backprop", seed: int = 0):
    protocol = load_protocol(TINY)
    config = protocol.run_config(condition, seed)
    return store.claim_run("tiny", condition, "backprop", seed, config, config_hash(config), owner)


def test_a_live_claim_is_left_alone_and_a_dead_or_silent_one_is_taken_over(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        me, other = new_owner(), new_owner()
        outcome, first = claim(store, me)
        assert outcome == "claimed"
        assert claim(store, other) == ("held", first)  # same host, live pid, fresh heartbeat

        # silent owner: heartbeat older than the lease
        store.conn.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time() - 2 * LEASE_S, first))
        store.conn.execute("INSERT INTO metrics VALUES (?, 0, NULL, 'loss', 'all', 1.0)", (first,))
        outcome, second = claim(store, other)
        assert outcome == "claimed" and second != first
        assert store.conn.execute("SELECT COUNT(*) FROM metrics WHERE run_id = ?", (first,)).fetchone()[0] == 0
        assert store.conn.execute("SELECT attempts, owner FROM runs WHERE id = ?", (second,)).fetchone() == (2, other)
        # the displaced owner cannot store its result
        assert store.finish_run(first, "done", [(10, None, "loss", "all", 0.5)]) is False
        assert store.conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 0

        # dead owner on this host: taken over at once, though its heartbeat is fresh
        ghost = f"{socket.gethostname()}:{dead_pid()}:feedbeef"
        store.conn.execute("UPDATE runs SET owner = ?, heartbeat = ? WHERE id = ?", (ghost, time.time(), second))
        outcome, third = claim(store, me)
        assert outcome == "claimed" and third not in (first, second)
        assert store.finish_run(third, "done", [(10, None, "loss", "all", 0.5)]) is True
        assert claim(store, other) == ("finished", third)
        assert len(store.runs("tiny")) == 1


def test_owner_liveness_rules():
    now = time.time()
    assert owner_is_alive(new_owner(), now, now)
    assert not owner_is_alive(None, now, now)
    assert not owner_is_alive(new_owner(), now - 2 * LEASE_S, now)
    assert not owner_is_alive(f"{socket.gethostname()}:{dead_pid()}:x", now, now)
    assert owner_is_alive("some-other-host:1:x", now, now)  # another machine: only the heartbeat can tell


def test_heartbeat_renews_the_claims_of_its_owner_only(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        me, other = new_owner(), new_owner()
        _, mine = claim(store, me, seed=0)
        _, theirs = claim(store, other, seed=1)
        old = time.time() - 30
        store.conn.execute("UPDATE runs SET heartbeat = ?", (old,))
        with Heartbeat(path, me, interval_s=0.05):
            deadline = time.monotonic() + 10
            while store.conn.execute("SELECT heartbeat FROM runs WHERE id = ?", (mine,)).fetchone()[0] == old:
                assert time.monotonic() < deadline, "the heartbeat never beat"
                time.sleep(0.05)
        assert store.conn.execute("SELECT heartbeat FROM runs WHERE id = ?", (theirs,)).fetchone()[0] == old


# -- concurrent sweeps and kills -------------------------------------------------------------------


def test_two_sweeps_into_one_store_share_the_work_and_store_each_run_once(tmp_path):
    script = teacher_protocol(tmp_path / "shared.py", "shared", '["backprop", "feedback_alignment", "shallow"]', steps=1000)
    store_path = tmp_path / "s.sqlite"
    procs = [cli_process(script, store_path), cli_process(script, store_path)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    computed = [int(re.search(r"(\d+) run\(s\) computed", out).group(1)) for out, _ in outputs]
    assert sum(computed) == 6, [o for o, _ in outputs]  # no run computed twice, none lost
    with Store(store_path, create=False) as store:
        runs = store.runs("shared")
        assert len(runs) == 6 and (runs["status"] == "done").all() and (runs["attempts"] == 1).all()
        n_rows = store.conn.execute("SELECT COUNT(*) FROM metrics").fetchone()[0]
    serial = tmp_path / "serial.sqlite"
    with Store(serial) as store:
        run_protocol(load_protocol(script), store, progress=False)
    pd.testing.assert_frame_equal(metrics_table(store_path, "shared"), metrics_table(serial, "shared"))
    assert n_rows == len(metrics_table(serial, "shared"))


@pytest.mark.slow  # starts a process pool
def test_a_pool_sweep_killed_mid_run_resumes_to_each_run_done_once(tmp_path):
    script = teacher_protocol(tmp_path / "killed.py", "killed", '["backprop", "feedback_alignment"]', steps=1500, seeds=2)
    store_path = tmp_path / "s.sqlite"
    proc = cli_process(script, store_path, "--workers", "2")
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.communicate()[1]}"
            assert time.monotonic() < deadline, "no run finished within 180 s"
            try:
                with sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5) as con:
                    done = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'done'").fetchone()[0]
            except sqlite3.Error:
                done = 0
            if done >= 1:
                break
            time.sleep(0.05)
        workers = children(proc.pid)
        assert len(workers) >= 2  # the pool's processes (and its resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    with Store(store_path, create=False) as store:
        before = store.runs("killed")
        kept = before[before["status"] == "done"][["id", "condition", "seed"]].reset_index(drop=True)
        assert 1 <= len(kept) < 4
    # the killed sweep's pool workers die with it (they would otherwise idle for ever)
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "the killed sweep's workers outlived it"
        time.sleep(0.1)
    rerun = cli_process(script, store_path, "--workers", "2")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert f"{4 - len(kept)} run(s) computed" in out  # the killed sweep's claims were taken over at once
    with Store(store_path, create=False) as store:
        runs = store.runs("killed")
        assert len(runs) == 4 and (runs["status"] == "done").all()
        assert sorted(zip(runs["condition"], runs["seed"])) == sorted(load_protocol(script).jobs())
        pd.testing.assert_frame_equal(runs[runs["id"].isin(kept["id"])][["id", "condition", "seed"]].reset_index(drop=True), kept)
        assert {r[0] for r in store.conn.execute("SELECT DISTINCT run_id FROM metrics")} == set(runs["id"])


# -- failures, retries, divergence ---------------------------------------------------------------


FLAKY = '''
class Flaky(rules.Backprop):
    """Fails the first time it is asked for credit in a process-independent way (a marker file)."""
    name = "flaky"
    def deltas(self, model, fp):
        marker = Path(__file__).with_suffix(".marker")
        if not marker.exists():
            marker.touch()
            raise RuntimeError("transient failure")
        return super().deltas(model, fp)

class Broken(rules.Backprop):
    name = "broken"
    def deltas(self, model, fp):
        raise RuntimeError("this rule always fails")
'''


def test_a_failure_is_retried_once_then_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    script = teacher_protocol(tmp_path / "flaky.py", "flaky", "[Flaky(), Broken(), rules.Backprop()]", steps=40, seeds=1, extra=FLAKY)
    store_path = tmp_path / "s.sqlite"
    assert main(["run", str(script), "--store", str(store_path), "--no-progress", "--no-figure"]) == 1  # a run failed
    out = capsys.readouterr().out
    assert "2 done, 0 diverged, 1 failed" in out and "2 failure(s) retried once" in out
    with Store(store_path, create=False) as store:
        runs = store.runs("flaky").set_index("condition")
        assert runs.loc["flaky", "status"] == "done" and runs.loc["backprop", "status"] == "done"
        assert runs.loc["broken", "status"] == "failed"
        assert "this rule always fails" in runs.loc["broken", "error"]
        done_before = store.conn.execute("SELECT * FROM runs WHERE status = 'done' ORDER BY id").fetchall()
    # a re-run retries the failed run and keeps the finished ones untouched
    assert main(["run", str(script), "--store", str(store_path), "--no-progress", "--no-figure"]) == 1
    out = capsys.readouterr().out
    assert "0 done, 0 diverged, 1 failed), 2 already in the store" in out
    with Store(store_path, create=False) as store:
        assert store.conn.execute("SELECT * FROM runs WHERE status = 'done' ORDER BY id").fetchall() == done_before
        assert store.runs("flaky").set_index("condition").loc["broken", "attempts"] == 2


def test_a_diverged_run_is_a_result_shown_by_results_and_figures(tmp_path, capsys):
    script = teacher_protocol(tmp_path / "lillicrap2016_linear.py", "lillicrap2016_linear",
                              '[rules.Backprop(), rules.FeedbackAlignment(scale=0.5), rules.Shallow()]', steps=200, seeds=1,
                              lr=0.2, record_every=10)
    store_path = tmp_path / "s.sqlite"
    assert main(["run", str(script), "--store", str(store_path), "--no-progress", "--no-figure"]) == 0
    with Store(store_path, create=False) as store:
        runs = store.runs("lillicrap2016_linear").set_index("condition")
    diverged = runs[runs["status"] == "diverged"]
    assert len(diverged) >= 1 and diverged["diverged_step"].notna().all()
    assert (runs["status"].isin(["done", "diverged"])).all()
    capsys.readouterr()
    assert main(["results", str(store_path)]) == 0
    out = capsys.readouterr().out
    cond = diverged.index[0]
    assert f"{cond} seed 0 diverged at step {int(diverged.loc[cond, 'diverged_step'])}" in out
    figure = Path(__file__).resolve().parent.parent / "figures" / "lillicrap2016_linear.py"
    assert main(["figure", str(figure), "--store", str(store_path), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "lillicrap2016_linear.png").stat().st_size > 0


# -- schema migration ------------------------------------------------------------------------------

SCHEMA_1 = """
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, protocol TEXT NOT NULL, condition TEXT NOT NULL,
    rule TEXT NOT NULL, seed INTEGER NOT NULL, config TEXT NOT NULL, config_hash TEXT NOT NULL, versions TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'diverged', 'failed')), diverged_step INTEGER, error TEXT,
    started_at REAL, finished_at REAL, duration_s REAL, UNIQUE (protocol, condition, seed));
CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, step INTEGER NOT NULL, epoch REAL,
    metric TEXT NOT NULL, layer TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX metrics_by_run ON metrics (run_id, metric, layer);
INSERT INTO runs VALUES (1, 'old', 'backprop', 'backprop', 0, '{}', 'abc', '{}', 'done', NULL, NULL, 0, 1, 1);
INSERT INTO metrics VALUES (1, 0, NULL, 'loss', 'all', 2.5), (1, 10, NULL, 'loss', 'all', 1.25);
PRAGMA user_version = 1;
"""


def test_a_schema_1_store_is_migrated_when_read(tmp_path, capsys):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.executescript(SCHEMA_1)
    con.close()
    assert main(["results", str(path), "--format", "csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "protocol,condition,rule,seed,step,metric,layer,value"
    assert out[1:] == ["old,backprop,backprop,0,0,loss,all,2.5", "old,backprop,backprop,0,10,loss,all,1.25"]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert con.execute("SELECT attempts, owner FROM runs").fetchone() == (1, None)
    con.close()


# -- executors ---------------------------------------------------------------------------------------


@pytest.mark.slow  # starts Ray
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed (pip install -e '.[ray]'; .ci/run does)")
def test_ray_executor_gives_the_serial_numbers_bit_for_bit(tmp_path):
    protocol = load_protocol(TINY)
    with Store(tmp_path / "serial.sqlite") as store:
        run_protocol(protocol, store, progress=False)
    with Store(tmp_path / "ray.sqlite") as store:
        report = run_protocol(load_protocol(TINY), store, workers=2, executor="ray", progress=False)
        assert report.done == 6
    pd.testing.assert_frame_equal(metrics_table(tmp_path / "ray.sqlite", "tiny"), metrics_table(tmp_path / "serial.sqlite", "tiny"))


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["run", str(TINY), "--store", str(tmp_path / "s.sqlite"), "--executor", "ray", "--no-progress", "--no-figure"]) == 2
    err = capsys.readouterr().err
    assert "needs Ray" in err and '.[ray]' in err and "Traceback" not in err


@pytest.mark.slow  # six Python processes importing bioplaus at once: ~45 s cold on 2 cores
def test_many_processes_creating_one_store_at_once_all_succeed(tmp_path):
    path, ready = tmp_path / "new.sqlite", tmp_path / "ready"
    ready.mkdir()
    code = (  # import first, then all open the store together (a barrier on files)
        "import os, sys, time; from pathlib import Path; from bioplaus.store import Store; "
        f"r = Path({str(ready)!r}); (r / str(os.getpid())).touch(); "
        "deadline = time.time() + 120\n"
        "while len(list(r.iterdir())) < 6 and time.time() < deadline: time.sleep(0.001)\n"
        f"Store({str(path)!r}).close()"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    with Store(path, create=False) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert len(store.runs()) == 0
