"""``bioplaus bench rl``: environment steps per second of batched TD(lambda) against a plain Python loop over learners.

Online accumulating TD(lambda) (lambda = 0.8, alpha = 0.1) on the 19-state random walk, every learner with its own
environment and auto-reset. Batched: 1,024 learners as one tensor (:class:`bioplaus.rl.episodes.BatchedEnv` and
:func:`bioplaus.rules.td_lambda.td_lambda_transition`, float64). Python loop: the same algorithm for the same 1,024
learners, one after the other in each step, each with its own NumPy weight and trace vectors and the standard
library's random numbers. Both are timed in the same interleaved repetitions (:func:`bioplaus.bench.timing.interleaved`);
the figure of merit is environment steps (transitions) per second.
"""

from __future__ import annotations

import random
import statistics

import numpy as np
import torch

from bioplaus.bench.timing import interleaved, machine
from bioplaus.rl.environments import random_walk
from bioplaus.rl.episodes import BatchedEnv
from bioplaus.rl.mdp import uniform_policy
from bioplaus.rules.td_lambda import td_lambda_transition

LEARNERS = 1024
N_STATES = 19
LAM, ALPHA = 0.8, 0.1


def batched_step_fn():
    mdp = random_walk(N_STATES)
    env = BatchedEnv(mdp, LEARNERS, torch.Generator().manual_seed(0))
    policy = uniform_policy(mdp)
    feats = torch.cat([mdp.features, torch.zeros(1, N_STATES, dtype=torch.float64)])
    w = torch.zeros(LEARNERS, N_STATES, dtype=torch.float64)
    z = torch.zeros_like(w)

    def step(_: int) -> None:
        s, _a, r, nxt, term = env.step(policy)
        td_lambda_transition(w, z, feats.index_select(0, s), feats.index_select(0, nxt), r, term, 1.0, LAM, ALPHA)

    return step


def python_loop_step_fn():
    rng = random.Random(0)
    start = N_STATES // 2
    states = [start] * LEARNERS
    ws = [np.zeros(N_STATES) for _ in range(LEARNERS)]
    zs = [np.zeros(N_STATES) for _ in range(LEARNERS)]

    def step(_: int) -> None:
        for i in range(LEARNERS):
            s, w, z = states[i], ws[i], zs[i]
            nxt = s + (1 if rng.random() < 0.5 else -1)
            end = nxt < 0 or nxt >= N_STATES
            r = (1.0 if nxt >= N_STATES else -1.0) if end else 0.0
            delta = r + (0.0 if end else w[nxt]) - w[s]
            z *= LAM
            z[s] += 1.0
            w += ALPHA * delta * z
            if end:
                z[:] = 0.0
                nxt = start
            states[i] = nxt

    return step


def main(repeats: int = 5, steps: int = 20, threads: int = 1) -> int:
    torch.set_num_threads(threads)
    times = interleaved({"batched": batched_step_fn(), "python loop": python_loop_step_fn()}, repeats, steps, warmup=5)
    rate = {k: LEARNERS * steps / statistics.median(v) for k, v in times.items()}
    print(f"{machine(threads)}. Online TD(λ={LAM}), 19-state walk, {LEARNERS} learners with auto-reset, "
          f"{repeats} interleaved repetitions of {steps} steps; median.\n")
    print("| variant | environment steps / s | vs Python loop |\n|---|---:|---:|")
    for k, v in rate.items():
        print(f"| {k} | {v:,.0f} | {v / rate['python loop']:.1f} × |")
    return 0
