"""``bioplaus bench spiking``: the Izhikevich 2007 network (1000 neurons, 80k plastic of 100k
synapses, DA-STDP) per Brian2 code-generation target, as biological time over wall time.

Each variant builds the network of ``models/izhikevich2007_network.toml`` as the
protocol does (:func:`bioplaus.spiking.distal_reward.distal_reward_network`: the reward
schedule of the chosen synapse runs in generated code) plus a fixed reward every 2 s
(so that dopamine acts from the start), runs a short warm-up (the compile and set-up
cost, reported apart) and then ``seconds`` of biological time, timed.
``cpp_standalone`` compiles the whole simulation once (``device.build(compile=False,
run=False)`` and ``make`` through :func:`bioplaus.spiking.standalone.make`, in a temporary
folder removed afterwards, reported as compile time) and the timed part
is ``device.run(run_args=...)`` of the compiled program, each repeat from other
initial membrane potentials (no recompilation; the wall time includes the program's
start, loading and its writing of the results; "simulation loop alone" is the
program's own measurement of its run loop, as the issue's "simulation alone").
``repeats`` repeats the timed part and the
table gives the median ratio and its range. ``event`` is the exact event-driven
DA-STDP (eligibility and weight advanced in closed form at spikes and dopamine events,
:class:`bioplaus.spiking.plasticity.DopamineSTDP`); ``clock, 10 ms`` advances every
synapse every 10 ms as the author's code, ``clock, 1 ms`` every step.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import time

from bioplaus.bench.timing import machine
from bioplaus.models import load as load_model
from bioplaus.spiking.distal_reward import distal_reward_network
from bioplaus.spiking.network import seed_brian2, use_target
from bioplaus.spiking.plasticity import DopamineSTDP
from bioplaus.spiking.standalone import make

VARIANTS = [  # (label, target, update, update_dt_ms, seconds scale)
    ("cpp_standalone, event-driven", "cpp_standalone", "event", 10.0, 1.0),
    ("cpp_standalone, clock 10 ms", "cpp_standalone", "clock", 10.0, 1.0),
    ("cython, event-driven", "cython", "event", 10.0, 1.0),
    ("cython, clock 10 ms", "cython", "clock", 10.0, 1.0),
    ("cython, clock 1 ms", "cython", "clock", 1.0, 0.5),
    ("numpy, event-driven", "numpy", "event", 10.0, 0.2),
]


def _measure(target: str, update: str, update_dt_ms: float, seconds: float, repeats: int, threads: int):
    """``(compile_s, [wall seconds per repeat], [simulation-loop seconds per repeat])`` for ``seconds``
    of biological time; the last list is empty for the runtime targets (their wall time is the loop)."""
    import brian2 as b2
    import numpy as np

    spec = load_model("izhikevich2007_network")
    spec = dataclasses.replace(spec, target=target)
    project = use_target(target, build_on_run=False)
    try:
        if target == "cpp_standalone" and threads > 1:
            b2.prefs.devices.cpp_standalone.openmp_threads = threads
        seed_brian2(1)
        warm = 0.0 if target == "cpp_standalone" else 0.1
        rewards = np.arange(2.0, warm + seconds * (1 if target == "cpp_standalone" else repeats) + 1e-9, 2.0)
        objs = distal_reward_network(spec, DopamineSTDP(update=update, update_dt_ms=update_dt_ms, traces="neuron"),
                                     np.random.default_rng(0), preset_rewards_s=rewards[:16])
        net = b2.Network(*(o for o in objs.values() if hasattr(o, "contained_objects")), name="distal_reward")
        if target == "cpp_standalone":
            net.run(seconds * b2.second, namespace={})
            t0 = time.perf_counter()
            b2.device.build(directory=project, compile=False, run=False)
            make(project)
            compile_s = time.perf_counter() - t0
            walls, sims = [], []
            v_rng = np.random.default_rng(1)
            for _ in range(repeats):
                # the compiled program is reused; each run starts from other membrane potentials
                v0 = (-65.0 + 5.0 * v_rng.standard_normal(len(objs["neurons"]))) * b2.mV
                t0 = time.perf_counter()
                b2.device.run(run_args={objs["neurons"].v: v0})
                walls.append(time.perf_counter() - t0)
                sims.append(float(b2.device._last_run_time))  # the simulation loop alone, as the program measures it
            return compile_s, walls, sims
        t0 = time.perf_counter()
        net.run(warm * b2.second, namespace={})
        compile_s = time.perf_counter() - t0
        walls = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            net.run(seconds * b2.second, namespace={})
            walls.append(time.perf_counter() - t0)
        return compile_s, walls, []
    finally:
        if project is not None:
            shutil.rmtree(project, ignore_errors=True)


def _child(label: str, seconds: float, repeats: int, threads: int) -> None:
    _, target, update, update_dt, scale = next(v for v in VARIANTS if v[0] == label)
    compile_s, walls, sims = _measure(target, update, update_dt, seconds * scale, repeats, threads)
    print("RESULT", compile_s, *walls, flush=True)
    if sims:
        print("SIMULATION", *sims, flush=True)


def main(repeats: int = 3, steps: int = 10, threads: int = 1) -> int:
    """``steps`` is the biological time in seconds of each timed run (10 by default)."""
    seconds = float(steps)
    lines = [f"{machine(threads)}. Izhikevich 2007 network (800 RS + 200 FS neurons, 100 synapses each, 80,000 "
             f"plastic), {seconds:g} s of biological time per timed run (numpy and clock 1 ms: a fraction, see below), "
             f"{repeats} run(s); each target in its own process; load average before: {os.getloadavg()[0]:.1f}.",
             "", "| variant | bio time / wall time (median) | range | simulation loop alone (median) | compile + set-up (s) |",
             "|---|---:|---:|---:|---:|"]
    for label, *_, scale in VARIANTS:
        # one process per target: Brian2's device is global, and a standalone device cannot be left
        out = subprocess.run([sys.executable, "-c", f"from bioplaus.bench.spiking import _child; _child({label!r}, {seconds}, {repeats}, {threads})"],
                             capture_output=True, text=True)
        result = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
        if out.returncode != 0 or not result:
            lines.append(f"| {label} | failed: {(out.stderr.strip().splitlines() or ['?'])[-1][:120]} | | | |")
            continue
        compile_s, *walls = (float(x) for x in result[0].split()[1:])
        ratios = [seconds * scale / w for w in walls]
        sims = [float(x) for line in out.stdout.splitlines() if line.startswith("SIMULATION") for x in line.split()[1:]]
        alone = f"{statistics.median(seconds * scale / x for x in sims):.2f} ×" if sims else "(= wall)"
        lines.append(f"| {label} | {statistics.median(ratios):.2f} × | {min(ratios):.2f}–{max(ratios):.2f} | {alone} | {compile_s:.1f} |")
    print("\n".join(lines))
    return 0
