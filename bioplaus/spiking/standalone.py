"""cpp_standalone programs compiled once and rerun for other seeds.

A task that runs on ``cpp_standalone`` compiles its whole simulation into one C++
program (25-45 s here). Runs that differ only in their seed (the random numbers of
``rand()`` and Poisson inputs, random connectivity drawn in Python, initial values)
can rerun that program with ``brian2.device.run(run_args=...)`` instead of compiling it
again:

- the random numbers: the program seeds Brian2's generators from the environment
  variable ``BIOPLAUS_RNG_SEED`` that :meth:`Program.run` sets for each run, before it
  creates any object (:func:`seed_from_environment`), instead of from a seed compiled into it;
- connectivity made by ``Synapses.connect(i=..., j=...)`` lives in the program's static
  arrays (files read when it starts); :meth:`Program.set_connection` rewrites them for
  the next run (same number of synapses);
- initial values: any ``group.variable`` through ``run_args``.

:func:`compiled` returns the program for a run configuration (:func:`run_key`), compiling
it only when this process has not. One program is kept per process (the last one built); it is
dropped, and its folder removed, when another is kept, when it is asked for after
:func:`bioplaus.spiking.network.use_target` has selected a target again (the Brian2 device
it was built on is reset then) and at exit.

Interrupting a build or a run stops it promptly: Brian2 compiles through ``os.system``,
which ignores SIGINT (Ctrl-C) in the caller, so :class:`Program` writes the project with
``device.build(compile=False, run=False)`` and runs ``make`` itself in a child process
group (:func:`run_child`) that is ended when this process gets SIGINT or SIGTERM; the
program runs through ``device.run`` (a ``subprocess`` that Brian2 kills on any exception)
with SIGTERM turned into an exception meanwhile (:func:`sigterm_raises`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from bioplaus.spiking.network import device_resets, use_target

_KEPT: Program | None = None

#: seconds a child process group gets to end after SIGTERM before it is sent SIGKILL
GRACE_S = 5.0


SEED_VARIABLE = "BIOPLAUS_RNG_SEED"


def seed_from_environment() -> None:
    """Make the program seed Brian2's random generators from ``$BIOPLAUS_RNG_SEED`` (when set).

    Call right after selecting the device, before creating any object: initial values drawn
    with ``rand()`` (e.g. ``group.v = "rand()"``) are drawn where the program creates them."""
    import brian2

    threads = max(1, int(brian2.prefs.devices.cpp_standalone.openmp_threads))
    brian2.device.insert_code("main", f'{{ const char* _seed = getenv("{SEED_VARIABLE}"); if (_seed != NULL) '
                                      f"for (int _i = 0; _i < {threads}; _i++) "
                                      f"brian::_random_generators[_i].seed(strtoul(_seed, NULL, 10) + _i); }}")


class Terminated(BaseException):
    """SIGTERM arrived while :func:`sigterm_raises` was in force (a ``BaseException``, like
    ``KeyboardInterrupt``, so that no ``except Exception`` takes it for a failed run)."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread, so that the
    ``except``/``finally`` clauses that end child processes run. When the block ends by it, the
    previous disposition of SIGTERM is restored and the signal raised again: by default the
    process then ends as SIGTERM would have ended it. Outside the main thread (where Python
    cannot set handlers), when SIGTERM is ignored, or when its handler was not set from Python
    (it could not be restored), nothing changes."""
    current = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    if current is None or current == signal.SIG_IGN:
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except Terminated:
        # nested blocks: this raises Terminated again from the enclosing block's handler, so
        # that the cleanup between the two runs before the outermost one ends the process
        signal.signal(signal.SIGTERM, previous)
        signal.raise_signal(signal.SIGTERM)
        raise  # the previous handler returned
    finally:
        signal.signal(signal.SIGTERM, previous)


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group of ``proc``, SIGKILL to what is left of it after :data:`GRACE_S`."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=GRACE_S)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the compilers make started, if make went first
        proc.wait()


def run_child(command: list[str], **popen: Any) -> int:
    """Run ``command`` (``subprocess.Popen`` keyword arguments ``popen``) in a process group of
    its own and return its exit status. If the wait is interrupted (Ctrl-C: ``KeyboardInterrupt``;
    SIGTERM: :class:`Terminated`) or fails, the whole group (``make`` and the compilers it
    started) is ended (:func:`_end_group`) before the exception goes on. The group is this
    function's own so that the child gets the signal from here, whoever sent it to this process
    (a terminal's Ctrl-C, ``kill``, a test runner)."""
    with sigterm_raises():
        proc = subprocess.Popen(command, start_new_session=True, **popen)
        try:
            return proc.wait()
        except BaseException:
            _end_group(proc)
            raise


def make(project: str) -> None:
    """Compile the cpp_standalone project written in folder ``project`` with Brian2's make command
    and arguments (its preferences), in :func:`run_child`; the output goes to ``make.log`` there."""
    import brian2

    prefs = brian2.prefs.devices.cpp_standalone
    log_path = os.path.join(project, "make.log")
    with open(log_path, "wb") as log:
        status = run_child([prefs.make_cmd_unix, *prefs.extra_make_args_unix], cwd=project, stdout=log, stderr=subprocess.STDOUT)
    if status != 0:
        with open(log_path, errors="replace") as log:
            tail = "".join(log.readlines()[-20:])
        raise RuntimeError(f"compiling the standalone program in {project} failed (make exit status {status}):\n{tail}")


class Program:
    """A built cpp_standalone program and the Brian2 objects whose results it writes (made by
    :func:`compiled`); :meth:`run` runs it for one seed, after which the objects' monitors hold
    that run's results.
    """

    def __init__(self, key: str, project: str, objects: dict[str, Any]):
        import brian2

        self.key, self.project, self.objects = key, project, objects
        self.device_resets = device_resets()
        brian2.device.build(directory=project, compile=False, run=False)
        make(project)

    def set_connection(self, synapses: Any, which: str, values: np.ndarray) -> None:
        """Rewrite the ``which`` (``"sources"`` or ``"targets"``) indices that ``synapses.connect(i=..., j=...)``
        compiled into the program; ``values`` must have the length it had."""
        import brian2

        name = f"_static_array__array_{synapses.name}_{which}"
        old = brian2.device.static_arrays.get(name)
        if old is None or len(old) != len(values):
            raise ValueError(f"standalone program: no static array {name!r} of length {len(values)} to rewrite")
        np.asarray(values, dtype=old.dtype).tofile(os.path.join(self.project, "static_arrays", name))

    def run(self, seed: int, values: dict[Any, Any] | None = None) -> None:
        """Run the program with Brian2's generators seeded by ``seed`` and ``values`` (``{group.var: value}``) as initial values."""
        import brian2

        brian2.device.run_environment_variables[SEED_VARIABLE] = str(int(seed) % (2**32))
        try:
            with sigterm_raises():  # Brian2's subprocess.call kills the program on the exception
                brian2.device.run(directory=self.project, with_output=False, run_args=values or None)
        finally:
            os.environ.pop(SEED_VARIABLE, None)  # Brian2 exports it to this process to pass it on

    def remove(self) -> None:
        shutil.rmtree(self.project, ignore_errors=True)


def reusable(key: str) -> Program | None:
    """The kept program if it was built for ``key`` on the Brian2 device as it is now; a kept
    program whose device :func:`bioplaus.spiking.network.use_target` has reset since is dropped."""
    if _KEPT is not None and _KEPT.device_resets != device_resets():
        drop()
    return _KEPT if _KEPT is not None and _KEPT.key == key else None


def run_key(task: Any, spec: Any, rule: Any, protocol: Any) -> str:
    """What a task's compiled program depends on: everything of the run but its seed."""
    return json.dumps({"task": task.config(), "model": spec.to_dict(), "rule": rule.config(), "steps": protocol.steps,
                       "record_every": protocol.record_every}, sort_keys=True, default=str)


def compiled(key: str, build: Callable[[], dict[str, Any]]) -> Program:
    """The kept program for ``key`` or, failing that, a new one (then kept): selects
    cpp_standalone, seeds from the environment, calls ``build()`` (which creates the objects
    and runs their ``Network``, which only records the run, and returns the objects to
    keep) and compiles. A failed or interrupted build (Ctrl-C, SIGTERM: the folder is removed
    before the signal takes its course) leaves no folder behind."""
    program = reusable(key)
    if program is not None:
        return program
    # the kept program and the device's code objects go first: while the Brian2 objects of an
    # earlier build live, the new code objects would be named with a suffix ("..._codeobject_1")
    drop()
    project = use_target("cpp_standalone", build_on_run=False)
    gc.collect()
    with sigterm_raises():
        try:
            seed_from_environment()
            program = Program(key, project, build())
        except BaseException:
            shutil.rmtree(project, ignore_errors=True)
            raise
    keep(program)
    return program


def keep(program: Program) -> None:
    """Keep ``program`` for :func:`reusable`, removing the one kept before."""
    global _KEPT
    if _KEPT is not None and _KEPT is not program:
        _KEPT.remove()
    _KEPT = program


def drop() -> None:
    """Forget the kept program and remove its folder."""
    global _KEPT
    if _KEPT is not None:
        _KEPT.remove()
    _KEPT = None


atexit.register(drop)
