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
dropped, and its folder removed, when another is kept, when
:func:`bioplaus.spiking.network.use_target` selects a target again (the Brian2 device
it was built on is reset then) and at exit.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
from typing import Any, Callable

import numpy as np

_KEPT: "Program | None" = None


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


class Program:
    """A built cpp_standalone program and the Brian2 objects whose results it writes (made by
    :func:`compiled`); :meth:`run` runs it for one seed, after which the objects' monitors hold
    that run's results.
    """

    def __init__(self, key: str, project: str, objects: dict[str, Any]):
        import brian2

        self.key, self.project, self.objects = key, project, objects
        brian2.device.build(directory=project, run=False)

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
            brian2.device.run(directory=self.project, with_output=False, run_args=values or None)
        finally:
            os.environ.pop(SEED_VARIABLE, None)  # Brian2 exports it to this process to pass it on

    def remove(self) -> None:
        shutil.rmtree(self.project, ignore_errors=True)


def reusable(key: str) -> Program | None:
    """The kept program if it was built for ``key`` (:func:`bioplaus.spiking.network.use_target`
    drops it whenever it resets the Brian2 device the program was built on)."""
    return _KEPT if _KEPT is not None and _KEPT.key == key else None


def run_key(task: Any, spec: Any, rule: Any, protocol: Any) -> str:
    """What a task's compiled program depends on: everything of the run but its seed."""
    return json.dumps({"task": task.config(), "model": spec.to_dict(), "rule": rule.config(), "steps": protocol.steps,
                       "record_every": protocol.record_every}, sort_keys=True, default=str)


def compiled(key: str, build: Callable[[], dict[str, Any]]) -> Program:
    """The kept program for ``key`` or, failing that, a new one (then kept): selects
    cpp_standalone, seeds from the environment, calls ``build()`` (which creates the objects
    and runs their ``Network``, which only records the run, and returns the objects to
    keep) and compiles. A failed build leaves no folder behind."""
    from bioplaus.spiking.network import use_target

    program = reusable(key)
    if program is not None:
        return program
    project = use_target("cpp_standalone", build_on_run=False)
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
