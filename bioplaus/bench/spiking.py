"""``bioplaus bench spiking``: the Izhikevich 2007 network (1000 neurons, 80k plastic of 100k
synapses, DA-STDP) per Brian2 code-generation target, as biological time over wall time.

Each variant builds the network of ``models/izhikevich2007_network.toml`` with a fixed
reward every 2 s (so dopamine acts, without the Python reward loop), runs a short
warm-up (the compile and set-up cost, reported apart) and then ``seconds`` of
biological time, timed. ``cpp_standalone`` compiles the whole simulation once
(``device.build(run=False)`` in a temporary folder, reported as compile time) and the timed part is
``device.run(run_args=...)`` of the compiled program, each repeat from other initial
membrane potentials (no recompilation). ``repeats`` repeats the timed part (runtime
targets) and the table gives the median ratio and its range. The ``update 1 ms``
variant advances eligibility and weight every step (clock-driven) instead of every
10 ms as the author's code.
"""

from __future__ import annotations

import dataclasses
import statistics
import subprocess
import sys
import time

from bioplaus.bench.timing import machine

VARIANTS = [  # (label, target, update_dt_ms, seconds scale)
    ("cpp_standalone, update every 10 ms", "cpp_standalone", 10.0, 1.0),
    ("cython, update every 10 ms", "cython", 10.0, 1.0),
    ("cython, update every 1 ms (clock-driven)", "cython", 1.0, 1.0),
    ("numpy, update every 10 ms", "numpy", 10.0, 0.2),
]


def _measure(target: str, update_dt_ms: float, seconds: float, repeats: int) -> tuple[float, list[float]]:
    """``(compile_s, [wall seconds per repeat])`` for ``seconds`` of biological time."""
    import brian2 as b2
    import numpy as np

    from bioplaus import models
    from bioplaus.spiking.distal_reward import build_network
    from bioplaus.spiking.network import seed_brian2, use_target
    from bioplaus.spiking.plasticity import DopamineSTDP

    spec = models.load("izhikevich2007_network")
    spec = dataclasses.replace(spec, target=target)
    project = use_target(target, build_on_run=False)
    seed_brian2(1)
    objs = build_network(spec, DopamineSTDP(update_dt_ms=update_dt_ms), np.random.default_rng(0))
    total = seconds * (repeats if target == "cpp_standalone" else 1)
    rewards = np.arange(2.0, 0.1 + total + seconds, 2.0)
    objs["reward"].set_spikes(np.zeros(len(rewards), dtype=int), rewards * b2.second)
    net = b2.Network(*(o for o in objs.values() if hasattr(o, "contained_objects")), b2.SpikeMonitor(objs["neurons"], record=False))
    if target == "cpp_standalone":
        net.run(seconds * b2.second, namespace={})
        t0 = time.perf_counter()
        b2.device.build(directory=project, run=False)
        compile_s = time.perf_counter() - t0
        walls = []
        v_rng = np.random.default_rng(1)
        for _ in range(repeats):
            # the compiled program is reused; each run starts from other membrane potentials
            v0 = (-65.0 + 5.0 * v_rng.standard_normal(len(objs["neurons"]))) * b2.mV
            t0 = time.perf_counter()
            b2.device.run(run_args={objs["neurons"].v: v0})
            walls.append(time.perf_counter() - t0)
        return compile_s, walls
    t0 = time.perf_counter()
    net.run(0.1 * b2.second, namespace={})
    compile_s = time.perf_counter() - t0
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        net.run(seconds * b2.second, namespace={})
        walls.append(time.perf_counter() - t0)
    return compile_s, walls


def _child(label: str, seconds: float, repeats: int) -> None:
    _, target, update, scale = next(v for v in VARIANTS if v[0] == label)
    compile_s, walls = _measure(target, update, seconds * scale, repeats)
    print("RESULT", compile_s, *walls, flush=True)


def main(repeats: int = 3, steps: int = 10, threads: int = 1) -> int:
    """``steps`` is the biological time in seconds of each timed run (10 by default)."""
    seconds = float(steps)
    lines = [f"{machine(threads)}. Izhikevich 2007 network (800 RS + 200 FS neurons, 100 synapses each, 80,000 "
             f"plastic), {seconds:g} s of biological time per timed run, {repeats} run(s); each target in its own process.",
             "", "| variant | bio time / wall time (median) | range | compile + set-up (s) |", "|---|---:|---:|---:|"]
    for label, _, _, scale in VARIANTS:
        # one process per target: Brian2's device is global, and a standalone device cannot be left
        out = subprocess.run([sys.executable, "-c", f"from bioplaus.bench.spiking import _child; _child({label!r}, {seconds}, {repeats})"],
                             capture_output=True, text=True)
        result = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
        if out.returncode != 0 or not result:
            lines.append(f"| {label} | failed: {(out.stderr.strip().splitlines() or ['?'])[-1][:120]} | | |")
            continue
        compile_s, *walls = (float(x) for x in result[0].split()[1:])
        ratios = [seconds * scale / w for w in walls]
        lines.append(f"| {label} | {statistics.median(ratios):.2f} × | {min(ratios):.2f}–{max(ratios):.2f} | {compile_s:.1f} |")
    print("\n".join(lines))
    return 0
