"""The claim protocol of a store shared by several sweeps: owner ids, liveness and heartbeats.

A sweep claims a run in the store before computing it (:meth:`bioplaus.store.Store.claim_run`);
the claim records its ``owner`` (``host:pid:token``, :func:`new_owner`) and a heartbeat that
the owner renews every ``LEASE_S / 6`` seconds while it lives (:class:`Heartbeat`). Another
sweep leaves a claim alone while :func:`owner_is_alive` says so, and takes it over when the
heartbeat is older than the lease or the owner was a process on this host that has exited.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

LEASE_S = 60.0  # a claim whose heartbeat is older than this is taken over


def new_owner() -> str:
    """A claim owner id for this process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_alive(owner: str | None, heartbeat: float | None, now: float, lease_s: float = LEASE_S) -> bool:
    """Whether a claim's owner may still be working on it.

    No owner (a store written before claims, or a hand-made row) or a heartbeat older
    than ``lease_s`` means no; so does an owner process on this host that has exited.
    """
    if not owner or heartbeat is None or now - heartbeat > lease_s:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host == socket.gethostname() and pid_text.isdigit():
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by another user
            return True
    return True


class Heartbeat:
    """Renews the heartbeat of every ``running`` claim of ``owner`` every ``interval_s`` seconds.

    A background thread with its own connection, used as a context manager around a
    sweep, so that long runs keep their claims while the sweep computes.
    """

    def __init__(self, path: str | os.PathLike, owner: str, interval_s: float = LEASE_S / 6):
        self.path, self.owner, self.interval_s = Path(path), owner, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="bioplaus-heartbeat", daemon=True)

    def _beat(self) -> None:
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    conn.execute("UPDATE runs SET heartbeat = ? WHERE owner = ? AND status = 'running'", (time.time(), self.owner))
                except sqlite3.Error:
                    pass  # a busy store: the next beat will do
        finally:
            conn.close()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
