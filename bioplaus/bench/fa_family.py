"""``bioplaus bench fa_family``: throughput of sign symmetry, Kolen-Pollack and the weight mirror.

(a) The foundation benchmark's 784-1000-10 tanh network, batch 100, SGD, through the
:class:`bioplaus.train.Trainer` step that runs use, for backprop and every rule of the
family (the weight mirror with its mirror phase at its default frequency, every 4th step).
(b) A small ConvNet (conv 1->8 and 8->16, 3x3, ReLU, 2x2 max-pool, linear read-out;
28x28 inputs, batch 64) in a user's own training loop: a plain module with
``loss.backward()`` for backprop, the same module after :func:`bioplaus.wrap` for feedback
alignment, uSF and Kolen-Pollack (plus :func:`bioplaus.rules.wrap.update_feedback`).

Variants alternate step by step (:func:`alternating`): within a repetition every
variant takes its i-th step before any takes its (i+1)-th, in an order that rotates,
and each step is timed on its own; a repetition's time for a variant is the sum over its
steps, and every ratio is taken between two variants of the same repetition. On the
shared 2-core machine (load 5-16) blocks of 40-60 steps per variant (as
:func:`bioplaus.bench.timing.interleaved` times them) gave ratios spreading by
±10-25 % between repetitions; alternating single steps put the machine's slow and fast
moments on every variant alike, and repeated runs agreed to about ±1 %. Time is the
process's CPU time (``time.process_time``, one torch thread), which waiting for a core
does not inflate (wall-clock ratios of identical work spread from 0.76 to 2.07 there).
"""

from __future__ import annotations

import copy
import statistics

import torch
from torch import nn

from bioplaus.bench.rules import BATCH, _data, _trainer_step_fn
from bioplaus.bench.timing import alternating, machine, ratio_stats
from bioplaus.rules.wrap import update_feedback, wrap
from bioplaus.seeding import generator
from bioplaus.tasks.base import cross_entropy

MLP_RULES = ["backprop", "feedback_alignment", "sign_symmetry_usf", "sign_symmetry_brsf", "sign_symmetry_frsf",
             "kolen_pollack", "weight_mirror"]
CONV_RULES = ["backprop", "feedback_alignment", "sign_symmetry_usf", "kolen_pollack"]
CONV_BATCH = 64


def convnet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    )


def _conv_step_fn(rule: str, base: nn.Module, batches):
    model = copy.deepcopy(base)
    if rule != "backprop":
        wrap(model, rule, generator=generator(0, 0, f"rule:{rule}"))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    learns = rule == "kolen_pollack"

    def step(i: int) -> None:
        x, y = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        cross_entropy(model(x), y).backward()
        opt.step()
        if learns:
            update_feedback(model, opt)

    return step


def measure(repeats: int, steps: int, threads: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    torch.set_num_threads(threads)
    batches = _data()
    mlp = {r: _trainer_step_fn(batches, r, [], 0) for r in MLP_RULES}
    g = generator(0, 0, "bench-conv-data")
    conv_batches = [(torch.randn((CONV_BATCH, 1, 28, 28), generator=g), torch.randint(0, 10, (CONV_BATCH,), generator=g))
                    for _ in range(8)]
    torch.manual_seed(0)  # the plain module's own initialisation; every variant copies it
    base = convnet()
    conv = {r: _conv_step_fn(r, base, conv_batches) for r in CONV_RULES}
    return alternating(mlp, repeats, steps), alternating(conv, repeats, steps)


def _table(times: dict[str, list[float]], batch: int, steps: int) -> list[str]:
    lines = ["| rule | samples/s (median) | throughput ratio to backprop (median) | range |", "|---|---:|---:|---:|"]
    for rule, t in times.items():
        sps = statistics.median(steps * batch / s for s in t)
        if rule == "backprop":
            lines.append(f"| {rule} | {sps:,.0f} | 1 | |")
            continue
        med, lo, hi = ratio_stats(times["backprop"], t)
        lines.append(f"| {rule} | {sps:,.0f} | {med:.3f} | {lo:.3f}–{hi:.3f} |")
    return lines


def main(repeats: int = 7, steps: int = 60, threads: int = 1) -> int:
    mlp, conv = measure(repeats, steps, threads)
    n = len(next(iter(mlp.values())))
    print(f"{machine(threads)}; {n} repetitions of {steps} steps, the variants alternating step by step; "
          "CPU time of the process (time.process_time).\n")
    print(f"(a) 784-1000-10 tanh, batch {BATCH}, SGD, bioplaus Trainer step (weight mirror: mirror phase at its default frequency, every 4th step)\n")
    print("\n".join(_table(mlp, BATCH, steps)))
    print(f"\n(b) ConvNet conv8-pool-conv16-pool-linear, 28x28 inputs, batch {CONV_BATCH}, SGD with momentum; "
          "user loop with loss.backward() on a plain module (backprop) or a bioplaus.wrap-ped one\n")
    print("\n".join(_table(conv, CONV_BATCH, steps)))
    return 0
