"""The results store: an embedded SQLite database (WAL mode) plus ``.npz`` arrays beside it.

Tables:

- ``runs``: one row per (protocol, condition, seed) with the full config as JSON, its
  hash, package versions, status (``running``, ``done``, ``diverged``, ``failed``), timings,
  and what figures call it: ``title`` (the rule's display title, or the condition's own
  label when it differs from the rule's name) and ``colour`` (the rule's colour), both from
  :mod:`bioplaus.rule_index` when the run is claimed (outside the config, so its hash is unchanged);
- ``metrics``: tidy rows ``(run_id, step, epoch, metric, layer, value)``;
- ``summaries``: per protocol, the ``(metric, layer)`` columns of its summary table (its
  ``summary`` field, written by ``bioplaus run``), so that ``bioplaus results`` shows the same;
- ``provenance``: one row per ``bioplaus reproduce`` of a protocol (:meth:`Store.record_provenance`): the
  script and its sha256, the git commit, the machine, package versions, times and the command line,
  which the gallery's pages show (:mod:`bioplaus.gallery`).

Arrays (initial and final weights, feedback matrices) go to
``<store>.arrays/<run id>.npz`` and are read with ``allow_pickle=False``. A run's
metrics and its final status are written in one transaction, so a killed sweep
leaves finished runs intact, and a re-run skips them. The schema version is
``PRAGMA user_version``; older stores are migrated when opened.

Several processes may run sweeps into one store at once. A run is *claimed* before it
is computed (:meth:`Store.claim_run`, one ``BEGIN IMMEDIATE`` transaction): the row
records its ``owner`` (``host:pid:token``) and a ``heartbeat`` that the owner renews
(:class:`bioplaus.leases.Heartbeat`). A claim is left alone while its owner lives; it is taken over
when its heartbeat is older than the lease, or at once when the owner was a process
on this host that no longer exists (a SIGKILLed sweep). Only the owner of a claim can
finish it (:meth:`Store.finish_run`), so a run is never stored twice.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from bioplaus.errors import BioplausError
from bioplaus.leases import LEASE_S, owner_is_alive
from bioplaus.rule_index import title_and_colour

SCHEMA_VERSION = 4
DEFAULT_STORE = Path("bioplaus-results") / "bioplaus.sqlite"
STATUSES = ("running", "done", "diverged", "failed")
FINISHED = ("done", "diverged")

_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    protocol TEXT NOT NULL,
    condition TEXT NOT NULL,
    rule TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    versions TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'diverged', 'failed')),
    diverged_step INTEGER,
    error TEXT,
    started_at REAL,
    finished_at REAL,
    duration_s REAL,
    owner TEXT,
    heartbeat REAL,
    attempts INTEGER NOT NULL DEFAULT 1,
    title TEXT,
    colour TEXT,
    UNIQUE (protocol, condition, seed)
);
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch REAL,
    metric TEXT NOT NULL,
    layer TEXT NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX metrics_by_run ON metrics (run_id, metric, layer);
CREATE TABLE summaries (
    protocol TEXT PRIMARY KEY,
    columns TEXT NOT NULL
);
CREATE TABLE provenance (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    protocol TEXT NOT NULL,
    record TEXT NOT NULL
);
"""


# Schema version -> statements that bring a store of the previous version up to it.
_MIGRATIONS: dict[int, list[str]] = {
    2: [
        "ALTER TABLE runs ADD COLUMN owner TEXT",
        "ALTER TABLE runs ADD COLUMN heartbeat REAL",
        "ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1",
    ],
    3: [  # titles and colours of older runs are filled in by Store._migrate from the rule index
        "ALTER TABLE runs ADD COLUMN title TEXT",
        "ALTER TABLE runs ADD COLUMN colour TEXT",
        "CREATE TABLE IF NOT EXISTS summaries (protocol TEXT PRIMARY KEY, columns TEXT NOT NULL)",
    ],
    4: ["CREATE TABLE IF NOT EXISTS provenance (id INTEGER PRIMARY KEY AUTOINCREMENT, protocol TEXT NOT NULL, record TEXT NOT NULL)"],
}


def default_store_path() -> Path:
    """``$BIOPLAUS_STORE`` or ``./bioplaus-results/bioplaus.sqlite``."""
    return Path(os.environ.get("BIOPLAUS_STORE", DEFAULT_STORE))


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine a run's numbers (read from metadata, without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("bioplaus", "torch", "numpy", "brian2"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


class Store:
    """A results store at ``path``.

    ``create=False`` (as ``bioplaus results`` uses) refuses to make a new file. A file
    that is not a bioplaus store, or one of a newer schema, is refused with a clear error.
    """

    def __init__(self, path: str | os.PathLike | None = None, create: bool = True):
        self.path = Path(path) if path is not None else default_store_path()
        if self.path.is_dir():
            raise BioplausError(f"{self.path}: is a folder; --store takes the path of a store file (e.g. {self.path / 'bioplaus.sqlite'}).")
        if not self.path.exists():
            if not create:
                raise BioplausError(f"{self.path}: no store here (run a protocol first, or pass --store PATH to an existing store).")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise BioplausError(f"{self.path}: cannot create the store's folder {self.path.parent} ({e.strerror}).") from e
        try:
            self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        except sqlite3.Error as e:
            raise BioplausError(f"{self.path}: cannot open the store ({e}).") from e
        deadline = time.monotonic() + 60
        while True:
            try:
                self._open(create)
                break
            except sqlite3.OperationalError as e:
                # Switching a new store to WAL needs the file to itself; SQLite answers "locked" at
                # once, without waiting, while another process creates or migrates it.
                if "locked" in str(e) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                self.conn.close()
                raise BioplausError(f"{self.path}: not a bioplaus store (SQLite says: {e}).") from e
            except sqlite3.DatabaseError as e:
                self.conn.close()
                raise BioplausError(f"{self.path}: not a bioplaus store (SQLite says: {e}).") from e

    def _open(self, create: bool) -> None:
        # One read transaction, so that the version and the tables come from the same moment
        # (another process may be creating the store between two separate reads).
        self.conn.execute("BEGIN")
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} - {"sqlite_sequence"}
        finally:
            self.conn.execute("COMMIT")
        if version == 0 and not tables:
            if not create:
                raise BioplausError(f"{self.path}: an empty database, not a bioplaus store.")
            self.conn.execute("PRAGMA journal_mode=WAL")
            with self.transaction():
                # another sweep may have created the store since we looked: check again under the lock
                if self.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'runs'").fetchone()[0] == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise BioplausError(
                f"{self.path}: store schema version {version} was written by a newer bioplaus; this version reads schema "
                f"{SCHEMA_VERSION}. Upgrade bioplaus to read it."
            )
        elif version < 1 or not {"runs", "metrics"} <= tables:
            raise BioplausError(
                f"{self.path}: not a bioplaus store (schema version {version}, tables {sorted(tables) or 'none'}; "
                f"expected schema 1 to {SCHEMA_VERSION} with tables 'runs' and 'metrics')."
            )
        elif version < SCHEMA_VERSION:
            self._migrate(version)
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA journal_mode=WAL")

    def _migrate(self, version: int) -> None:
        """Bring a store of an older schema up to :data:`SCHEMA_VERSION`, in one transaction."""
        with self.transaction():
            found = self.conn.execute("PRAGMA user_version").fetchone()[0]
            for v in range(found + 1, SCHEMA_VERSION + 1):  # another process may have migrated meanwhile
                for statement in _MIGRATIONS[v]:
                    self.conn.execute(statement)
            untitled = self.conn.execute("SELECT DISTINCT condition, rule FROM runs WHERE title IS NULL").fetchall()
            for condition, rule in untitled:
                self.conn.execute("UPDATE runs SET title = ?, colour = ? WHERE title IS NULL AND condition = ? AND rule = ?",
                                  (*title_and_colour(rule, condition), condition, rule))
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- writing ------------------------------------------------------------------------
    @property
    def arrays_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".arrays")

    def finished_configs(self, protocol: str) -> dict[tuple[str, int], tuple[str, str]]:
        """``(condition, seed) -> (status, config_hash)`` for every run of ``protocol``."""
        rows = self.conn.execute("SELECT condition, seed, status, config_hash FROM runs WHERE protocol = ?", (protocol,))
        return {(c, s): (st, h) for c, s, st, h in rows}

    def delete_runs(self, protocol: str, keys: list[tuple[str, int]] | None = None) -> int:
        """Delete runs (all of ``protocol``'s, or the given (condition, seed) keys) with their metrics and arrays."""
        with self.transaction():
            if keys is None:
                ids = [r[0] for r in self.conn.execute("SELECT id FROM runs WHERE protocol = ?", (protocol,))]
            else:
                ids = [
                    r[0]
                    for c, s in keys
                    for r in self.conn.execute("SELECT id FROM runs WHERE protocol=? AND condition=? AND seed=?", (protocol, c, s))
                ]
            for run_id in ids:
                self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
                self.conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        for run_id in ids:
            (self.arrays_dir / f"{run_id}.npz").unlink(missing_ok=True)
        return len(ids)

    def start_run(self, protocol: str, condition: str, rule: str, seed: int, config: dict[str, Any], config_hash: str) -> int:
        """Insert a ``running`` row without an owner (replacing an unfinished one) and return its id."""
        outcome, run_id = self.claim_run(protocol, condition, rule, seed, config, config_hash, owner=None)
        if outcome != "claimed":
            raise RuntimeError(f"run {protocol}/{condition}/seed {seed} is {outcome}")
        return run_id

    def claim_run(
        self,
        protocol: str,
        condition: str,
        rule: str,
        seed: int,
        config: dict[str, Any],
        config_hash: str,
        owner: str | None,
        lease_s: float = LEASE_S,
        title: str | None = None,
        colour: str | None = None,
    ) -> tuple[str, int | None]:
        """Atomically claim a run for ``owner``: ``("claimed", run id)``, ``("finished", id)`` or ``("held", id)``.

        ``title`` and ``colour``: what figures show for the run (default: from the rule index,
        see :func:`bioplaus.rule_index.title_and_colour`). An unfinished row (``failed``, or ``running`` under an owner that is gone, see
        :func:`owner_is_alive`) is replaced by a new ``running`` row with a new id and
        ``attempts`` one higher; a row held by a live owner, or a finished one, is left alone.
        """
        now = time.time()
        stale_id = None
        default_title, default_colour = title_and_colour(rule, condition)
        title, colour = title or default_title, colour or default_colour
        with self.transaction():
            old = self.conn.execute(
                "SELECT id, status, owner, heartbeat, attempts FROM runs WHERE protocol=? AND condition=? AND seed=?",
                (protocol, condition, seed),
            ).fetchone()
            attempts = 1
            if old is not None:
                old_id, status, old_owner, heartbeat, old_attempts = old
                if status in FINISHED:
                    return "finished", old_id
                if status == "running" and old_owner != owner and owner_is_alive(old_owner, heartbeat, now, lease_s):
                    return "held", old_id
                self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (old_id,))
                self.conn.execute("DELETE FROM runs WHERE id = ?", (old_id,))
                stale_id, attempts = old_id, old_attempts + 1
            cur = self.conn.execute(
                "INSERT INTO runs (protocol, condition, rule, seed, config, config_hash, versions, status, started_at, "
                "owner, heartbeat, attempts, title, colour) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
                (protocol, condition, rule, seed, json.dumps(config, sort_keys=True), config_hash,
                 json.dumps(package_versions()), now, owner, now, attempts, title, colour),
            )
            run_id = int(cur.lastrowid)
        if stale_id is not None:
            (self.arrays_dir / f"{stale_id}.npz").unlink(missing_ok=True)
        return "claimed", run_id

    def status_of(self, run_id: int) -> str | None:
        """A run's status, or ``None`` if the row is gone (its claim was taken over)."""
        row = self.conn.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        return None if row is None else row[0]

    def finish_run(
        self,
        run_id: int,
        status: str,
        rows: list[tuple],
        arrays: dict[str, np.ndarray] | None = None,
        diverged_step: int | None = None,
        duration_s: float | None = None,
        error: str | None = None,
    ) -> bool:
        """Write a run's metric rows, arrays and final status, all or nothing.

        Returns ``False`` (and writes nothing) if the run is no longer ``running`` under
        this id: another process took the claim over, having found its owner dead.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        bad = [row for row in rows if not math.isfinite(row[-1])]
        if bad:
            raise ValueError(f"run {run_id}: non-finite metric values cannot be stored, e.g. {bad[0]}")
        if self.status_of(run_id) != "running":
            return False
        final = self.arrays_dir / f"{run_id}.npz"
        if arrays:
            self.arrays_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.arrays_dir / f"{run_id}.tmp.npz"
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, final)
        with self.transaction():
            if self.status_of(run_id) != "running":
                final.unlink(missing_ok=True)
                return False
            self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            self.conn.executemany(
                "INSERT INTO metrics (run_id, step, epoch, metric, layer, value) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *row) for row in rows],
            )
            self.conn.execute(
                "UPDATE runs SET status=?, diverged_step=?, error=?, finished_at=?, duration_s=? WHERE id=?",
                (status, diverged_step, error, time.time(), duration_s, run_id),
            )
        return True

    def set_summary_columns(self, protocol: str, columns: list[tuple[str, str]] | None) -> None:
        """Remember a protocol's summary-table columns (``None``: forget them, use the default)."""
        with self.transaction():
            if columns:
                self.conn.execute("INSERT OR REPLACE INTO summaries (protocol, columns) VALUES (?, ?)",
                                  (protocol, json.dumps([list(c) for c in columns])))
            else:
                self.conn.execute("DELETE FROM summaries WHERE protocol = ?", (protocol,))

    def record_provenance(self, protocol: str, record: dict[str, Any]) -> None:
        """Append what produced ``protocol``'s results (a JSON-able dict, see :func:`bioplaus.gallery.provenance_record`)."""
        with self.transaction():
            self.conn.execute("INSERT INTO provenance (protocol, record) VALUES (?, ?)", (protocol, json.dumps(record, sort_keys=True)))

    # -- reading ------------------------------------------------------------------------
    def provenance(self, protocol: str) -> dict[str, Any] | None:
        """The latest :meth:`record_provenance` record of ``protocol``, or ``None``."""
        row = self.conn.execute("SELECT record FROM provenance WHERE protocol = ? ORDER BY id DESC LIMIT 1", (protocol,)).fetchone()
        return None if row is None else json.loads(row[0])

    def run_times(self, protocol: str) -> pd.DataFrame:
        """One row per condition of ``protocol``: ``condition, runs, done, duration_s`` (sum over its runs),
        ``first_started, first_finished, last_finished`` (UNIX seconds), in order of the conditions' first run."""
        return pd.read_sql_query(
            "SELECT condition, COUNT(*) AS runs, SUM(status = 'done') AS done, SUM(duration_s) AS duration_s, "
            "MIN(started_at) AS first_started, MIN(finished_at) AS first_finished, MAX(finished_at) AS last_finished "
            "FROM runs WHERE protocol = ? "
            "GROUP BY condition ORDER BY MIN(id)", self.conn, params=(protocol,))

    def summary_columns(self, protocol: str) -> list[tuple[str, str]] | None:
        """The summary-table columns stored for ``protocol``, or ``None``."""
        row = self.conn.execute("SELECT columns FROM summaries WHERE protocol = ?", (protocol,)).fetchone()
        return None if row is None else [(str(m), str(layer)) for m, layer in json.loads(row[0])]

    def runs(self, protocol: str | None = None) -> pd.DataFrame:
        """One row per run: id, protocol, condition, rule, seed, status, diverged_step, error, duration_s, attempts, owner,
        config_hash, config (JSON text), title, colour."""
        sql = ("SELECT id, protocol, condition, rule, seed, status, diverged_step, error, duration_s, attempts, owner, "
               "config_hash, config, title, colour FROM runs")
        params: tuple = ()
        if protocol is not None:
            sql += " WHERE protocol = ?"
            params = (protocol,)
        return pd.read_sql_query(sql + " ORDER BY protocol, id", self.conn, params=params)

    def protocols(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT protocol FROM runs ORDER BY protocol")]

    def metrics(
        self,
        protocol: str | None = None,
        metric: str | list[str] | None = None,
        layer: str | None = None,
        rule: str | None = None,
        condition: str | None = None,
        status: tuple[str, ...] = FINISHED,
    ) -> pd.DataFrame:
        """Tidy metric rows as a DataFrame with columns
        ``protocol, condition, rule, seed, step, epoch, metric, layer, value, run_id, status, title, colour``
        (``title`` and ``colour``: what figures show for the run, see :meth:`claim_run`).

        Only finished runs (``done`` and ``diverged``) by default.
        """
        where, params = [f"r.status IN ({','.join('?' * len(status))})"], list(status)
        for col, val in (("r.protocol", protocol), ("m.layer", layer), ("r.rule", rule), ("r.condition", condition)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if metric is not None:
            ms = [metric] if isinstance(metric, str) else list(metric)
            where.append(f"m.metric IN ({','.join('?' * len(ms))})")
            params.extend(ms)
        sql = (
            "SELECT r.protocol, r.condition, r.rule, r.seed, m.step, m.epoch, m.metric, m.layer, m.value, r.id AS run_id, r.status, "
            "r.title, r.colour "
            "FROM metrics m JOIN runs r ON r.id = m.run_id WHERE " + " AND ".join(where) + " ORDER BY r.id, m.step, m.metric, m.layer"
        )
        return pd.read_sql_query(sql, self.conn, params=params)

    def arrays(self, run_id: int) -> dict[str, np.ndarray]:
        """A run's stored arrays (loaded without pickle)."""
        path = self.arrays_dir / f"{run_id}.npz"
        if not path.is_file():
            raise BioplausError(f"{path}: no arrays stored for run {run_id}.")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
