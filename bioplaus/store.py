"""The results store: an embedded SQLite database (WAL mode) plus ``.npz`` arrays beside it.

Tables:

- ``runs``: one row per (protocol, condition, seed) with the full config as JSON, its
  hash, package versions, status (``running``, ``done``, ``diverged``, ``failed``) and timings;
- ``metrics``: tidy rows ``(run_id, step, epoch, metric, layer, value)``.

Arrays (initial and final weights, feedback matrices) go to
``<store>.arrays/<run id>.npz`` and are read with ``allow_pickle=False``. A run's
metrics and its final status are written in one transaction, so a killed sweep
leaves finished runs intact, and a re-run skips them. The schema version is
``PRAGMA user_version``.
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

SCHEMA_VERSION = 1
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
"""


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
        try:
            self._open(create)
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise BioplausError(f"{self.path}: not a bioplaus store (SQLite says: {e}).") from e

    def _open(self, create: bool) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} - {"sqlite_sequence"}
        if version == 0 and not tables:
            if not create:
                raise BioplausError(f"{self.path}: an empty database, not a bioplaus store.")
            self.conn.execute("PRAGMA journal_mode=WAL")
            with self.transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise BioplausError(
                f"{self.path}: store schema version {version} was written by a newer bioplaus; this version reads schema "
                f"{SCHEMA_VERSION}. Upgrade bioplaus to read it."
            )
        elif version < SCHEMA_VERSION or not {"runs", "metrics"} <= tables:
            raise BioplausError(
                f"{self.path}: not a bioplaus store (schema version {version}, tables {sorted(tables) or 'none'}; "
                f"expected schema {SCHEMA_VERSION} with tables 'runs' and 'metrics')."
            )
        self.conn.execute("PRAGMA foreign_keys = ON")
        self.conn.execute("PRAGMA journal_mode=WAL")

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
        """Insert a ``running`` row (replacing an unfinished one) and return its id."""
        with self.transaction():
            old = self.conn.execute(
                "SELECT id, status FROM runs WHERE protocol=? AND condition=? AND seed=?", (protocol, condition, seed)
            ).fetchone()
            if old is not None:
                if old[1] in FINISHED:
                    raise RuntimeError(f"run {protocol}/{condition}/seed {seed} is already finished")
                self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (old[0],))
                self.conn.execute("DELETE FROM runs WHERE id = ?", (old[0],))
                (self.arrays_dir / f"{old[0]}.npz").unlink(missing_ok=True)
            cur = self.conn.execute(
                "INSERT INTO runs (protocol, condition, rule, seed, config, config_hash, versions, status, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?)",
                (protocol, condition, rule, seed, json.dumps(config, sort_keys=True), config_hash, json.dumps(package_versions()), time.time()),
            )
            return int(cur.lastrowid)

    def finish_run(
        self,
        run_id: int,
        status: str,
        rows: list[tuple],
        arrays: dict[str, np.ndarray] | None = None,
        diverged_step: int | None = None,
        duration_s: float | None = None,
        error: str | None = None,
    ) -> None:
        """Write a run's metric rows, arrays and final status, all or nothing."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        bad = [row for row in rows if not math.isfinite(row[-1])]
        if bad:
            raise ValueError(f"run {run_id}: non-finite metric values cannot be stored, e.g. {bad[0]}")
        if arrays:
            self.arrays_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.arrays_dir / f"{run_id}.tmp.npz"
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, self.arrays_dir / f"{run_id}.npz")
        with self.transaction():
            self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            self.conn.executemany(
                "INSERT INTO metrics (run_id, step, epoch, metric, layer, value) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *row) for row in rows],
            )
            self.conn.execute(
                "UPDATE runs SET status=?, diverged_step=?, error=?, finished_at=?, duration_s=? WHERE id=?",
                (status, diverged_step, error, time.time(), duration_s, run_id),
            )

    # -- reading ------------------------------------------------------------------------
    def runs(self, protocol: str | None = None) -> pd.DataFrame:
        """One row per run: id, protocol, condition, rule, seed, status, diverged_step, error, duration_s, config (JSON text)."""
        sql = "SELECT id, protocol, condition, rule, seed, status, diverged_step, error, duration_s, config_hash, config FROM runs"
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
        ``protocol, condition, rule, seed, step, epoch, metric, layer, value, run_id, status``.

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
            "SELECT r.protocol, r.condition, r.rule, r.seed, m.step, m.epoch, m.metric, m.layer, m.value, r.id AS run_id, r.status "
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
