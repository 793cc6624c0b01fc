"""What a worker runs: one (condition, seed) job of a protocol, its result or its error as text.

The pool and Ray executors (:mod:`bioplaus.execute`, :mod:`bioplaus.ray_cluster`) send a
worker the protocol (pickled by the sweep, or rebuilt from its script where it cannot be
unpickled) and the job's expected configuration hash; :func:`run_job` checks the hash and
runs the job through the one run loop, which pins its thread counts.
"""

from __future__ import annotations

import pickle
import signal
import sys
import traceback

from bioplaus.core import RunResult
from bioplaus.errors import BioplausError
from bioplaus.protocol import Protocol, config_hash, load_protocol
from bioplaus.train import train_run

_WORKER_PROTOCOLS: dict[tuple[str | None, bool, bytes], Protocol] = {}


def _worker_protocol(source: str | None, quick: bool, blob: bytes) -> Protocol:
    """The protocol object the main process sent; rebuilt from its script when it cannot be
    unpickled here (objects whose classes are defined inside the protocol script)."""
    key = (source, quick, blob)
    if key not in _WORKER_PROTOCOLS:
        try:
            protocol = pickle.loads(blob)  # the parent's own object, sent to its worker: not stored results
        except (ImportError, AttributeError):
            if source is None:
                raise
            protocol = load_protocol(source)
            protocol = protocol.quick_version() if quick else protocol
        _WORKER_PROTOCOLS[key] = protocol
    return _WORKER_PROTOCOLS[key]


def run_job(protocol: Protocol, source: str | None, condition: str, seed: int, expected_hash: str, device: str,
            data_dir: str | None) -> tuple[RunResult | None, str | None]:
    """Run one job of ``protocol`` in a worker (its threads pinned by the run): ``(result, None)``, or ``(None, error text)``.
    ``data_dir``: where this worker finds the ``--data-dir`` files (a node may hold a shipped copy elsewhere)."""
    try:
        protocol = protocol.for_data_dir(data_dir)
        found = config_hash(protocol.run_config(condition, seed))
        if found != expected_hash:
            raise BioplausError(
                f"{source}: the worker rebuilt the protocol from its script and got a different configuration "
                f"({found}, expected {expected_hash}): the protocol was changed in memory and holds classes defined "
                f"in the script. Save the change in the script or run with --workers 1."
            )
        return train_run(protocol, condition, seed, device=device), None
    except Exception as e:  # a failed run is recorded, and the sweep goes on
        return None, error_text(e)


def worker_job(source, quick, blob, condition, seed, expected_hash, device, data_dir) -> tuple[RunResult | None, str | None]:
    """Run one job in a pool worker: ``(result, None)``, or ``(None, error text)`` if it raised."""
    try:
        protocol = _worker_protocol(source, quick, blob)
    except Exception as e:
        return None, error_text(e)
    return run_job(protocol, source, condition, seed, expected_hash, device, data_dir)


def die_with_parent() -> None:
    """Make this worker process end when the sweep that spawned it dies (Linux ``PR_SET_PDEATHSIG``).

    Without it, the workers of a SIGKILLed sweep would sit idle for ever, holding its
    output pipes open. Elsewhere the workers end when they next read from the dead pool.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        except OSError:
            pass


def error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
