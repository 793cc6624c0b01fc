"""Brian2 code-generation targets and running an explicit ``Network``.

bioplaus always builds a ``brian2.Network`` from the objects a model creates (never the
implicit "magic" network) and runs it with an empty run namespace, so that every
constant comes from the groups' own namespaces and nothing leaks in from the caller.

Targets: ``cython`` (the default; compiled once per set of code objects and cached in
``~/.cython``), ``numpy`` (no compiler, slowest) and ``cpp_standalone`` (the whole
simulation compiled to one C++ program; see :func:`use_target`).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from bioplaus.errors import BioplausError, allowed

TARGETS = ("cython", "numpy", "cpp_standalone")

_device_resets = 0  # how often use_target has reset Brian2's device (see device_resets)


def device_resets() -> int:
    """How many times :func:`use_target` has reset Brian2's device in this process: a
    cpp_standalone program built before the last reset can no longer be run through the
    device (:func:`bioplaus.spiking.standalone.reusable` compares this count)."""
    return _device_resets


def use_target(target: str, directory: str | None = None, build_on_run: bool = True) -> str | None:
    """Select the code-generation target for the networks built next.

    For ``cpp_standalone`` the device is reset and pointed at ``directory`` (a fresh
    temporary folder by default); with ``build_on_run=False`` the program is built
    once by ``brian2.device.build(directory=..., run=False)`` (pass the returned
    project folder: ``build`` otherwise writes to ``./output``) and then run several
    times with ``device.run(run_args=...)``, changing initial values without recompiling.
    Returns the standalone project folder, or ``None`` for the runtime targets.
    """
    import brian2

    global _device_resets

    if target not in TARGETS:
        raise BioplausError(f"code-generation target {target!r} is not known; allowed values are {allowed(TARGETS)}.")
    _device_resets += 1  # the device is reset (or left) below: a program built on it before is not runnable
    _allow_vectorisation(brian2)
    level = os.environ.get("BIOPLAUS_BRIAN2_LOG", "ERROR").upper()
    brian2.prefs.logging.console_log_level = level
    # the pref is read when Brian2 starts logging; later changes need the logger's own switch
    getattr(brian2.BrianLogger, {"DEBUG": "log_level_debug", "DIAGNOSTIC": "log_level_diagnostic", "INFO": "log_level_info",
                                 "WARNING": "log_level_warn"}.get(level, "log_level_error"))()
    if target == "cpp_standalone":
        brian2.device.reinit()
        brian2.device.activate()
        if directory is None:
            _remove_orphans()
            directory = tempfile.mkdtemp(prefix=f"bioplaus-standalone-{os.getpid()}-")
        brian2.set_device("cpp_standalone", directory=directory, build_on_run=build_on_run)
        # make -j without a number starts one compiler per source file at once; use the cores there are
        brian2.prefs.devices.cpp_standalone.extra_make_args_unix = [f"-j{os.cpu_count() or 1}"]
        return directory
    else:
        if brian2.get_device().__class__.__name__ != "RuntimeDevice":
            brian2.device.reinit()
            brian2.device.activate()
            brian2.set_device("runtime")
        brian2.prefs.codegen.target = target
    return None


# GCC vectorises a loop over arrays it cannot prove distinct only behind run-time overlap
# checks, at most 10 by default: a neuron update touching a dozen state arrays (the
# Izhikevich network's, with its dopamine copies) stays scalar without a higher limit.
ALIAS_CHECKS_FLAG = "--param=vect-max-version-for-alias-checks=64"


def _allow_vectorisation(brian2: Any) -> None:
    """Add :data:`ALIAS_CHECKS_FLAG` to the flags Brian2 compiles with (cython and
    cpp_standalone), when the compiler is GCC (other compilers do not know the parameter)."""
    import sysconfig

    if "gcc" not in os.path.basename(str(sysconfig.get_config_var("CC") or "")):
        return
    flags = list(brian2.prefs.codegen.cpp.extra_compile_args_gcc)
    if ALIAS_CHECKS_FLAG not in flags:
        brian2.prefs.codegen.cpp.extra_compile_args_gcc = flags + [ALIAS_CHECKS_FLAG]


def _remove_orphans() -> None:
    """Remove standalone folders that processes now gone left in the temporary folder (a
    worker killed with its sweep does not run its exit handlers)."""
    import glob
    import shutil

    for path in glob.glob(os.path.join(tempfile.gettempdir(), "bioplaus-standalone-*-*")):
        pid = os.path.basename(path).split("-")[2]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive, owned by someone else


def seed_brian2(seed: int) -> None:
    """Seed Brian2's random numbers (``rand()``, ``PoissonGroup``) for the objects run next."""
    import brian2

    brian2.seed(int(seed) % (2**32))


def run(net: Any, duration_s: float, report: Any = None) -> None:
    """Run an explicit ``brian2.Network`` for ``duration_s`` seconds with an empty run namespace."""
    import brian2

    net.run(duration_s * brian2.second, namespace={}, report=report)
