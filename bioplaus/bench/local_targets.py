"""``bioplaus bench local_targets``: the cost of target propagation and predictive coding against backprop.

(a) Samples/s of backprop, DTP, SDTP, predictive coding (its default 20 inference steps) and Z-IL on
Bartunov et al.'s 784-5x256-10 tanh network, batch 100, SGD, through the :class:`bioplaus.train.Trainer`
step that runs use (DTP and SDTP including their inverses' training in ``after_step``); ratio = the
rule's CPU time / backprop's over the same steps of the same repetition. Issue 18's target: DTP <= 3 x.
(b) One PC inference step (:func:`bioplaus.rules.predictive_coding.inference_step`, with the clamped
input layer's ``W_1 x + b_1`` cached) against one forward pass of the same network without autograd
(``model(x)`` under ``no_grad``). Target: <= 1.5 x.

Variants alternate step by step and are timed with the process's CPU time
(:func:`bioplaus.bench.timing.alternating`), as the other suites.
"""

from __future__ import annotations

import statistics

import torch

from bioplaus import models
from bioplaus.bench.rules import BATCH, _data
from bioplaus.bench.timing import alternating, machine, ratio_stats
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules.predictive_coding import PCNet, feedforward_state, inference_step
from bioplaus.rules.registry import get_rule
from bioplaus.seeding import generator
from bioplaus.tasks.base import TaskInstance, cross_entropy
from bioplaus.train import Trainer

SPEC = FeedforwardSpec(name="bartunov_5x256_tanh", sizes=(784, 256, 256, 256, 256, 256, 10), activations=("tanh",) * 5 + ("linear",))
RULES = ["backprop", "difference_target_propagation", "simplified_dtp", "predictive_coding", "zero_divergence_inference_learning"]


def _trainer_step_fn(batches, rule_name: str):
    model = models.build(SPEC, generator(0, 0, "init"))
    rule = get_rule(rule_name)
    rule.setup(model, generator(0, 0, f"rule:{rule_name}"))
    task = TaskInstance(cross_entropy, lambda: batches[0], test=(batches[0].x, batches[0].y), train_eval=None, n_train=None,
                        classification=True)
    trainer = Trainer(model, rule, task, ("sgd", {"lr": 0.01}), [], BATCH)
    return lambda i: trainer.step(i, batches[i % len(batches)], record=False)


def _inference_fns(batches):
    model = models.build(SPEC, generator(0, 0, "init"))
    net = PCNet.of(model)
    states = [feedforward_state(net, b.x, b.y, b.loss_fn, 1.0) for b in batches]

    def forward(i: int) -> None:
        with torch.no_grad():
            model(batches[i % len(batches)].x)

    def inference(i: int) -> None:
        b = batches[i % len(batches)]
        states[i % len(batches)] = inference_step(net, states[i % len(batches)], b.y, b.loss_fn, 1.0, 0.1)

    return {"forward pass (no autograd)": forward, "PC inference step": inference}


def main(repeats: int = 7, steps: int = 30, threads: int = 1) -> int:
    torch.set_num_threads(threads)
    batches = _data()
    rules = alternating({r: _trainer_step_fn(batches, r) for r in RULES}, repeats, steps)
    inner = alternating(_inference_fns(batches), repeats, steps * 10)
    print(f"{machine(threads)}; {repeats} repetitions, the variants alternating step by step; CPU time of the process.\n")
    print(f"(a) 784-5x256-10 tanh, batch {BATCH}, SGD, bioplaus Trainer step (PC: 20 inference steps, rate 0.1)\n")
    print("| rule | samples/s (median) | time per step / backprop's (median) | range |\n|---|---:|---:|---:|")
    for rule, t in rules.items():
        sps = statistics.median(steps * BATCH / s for s in t)
        if rule == "backprop":
            print(f"| {rule} | {sps:,.0f} | 1 | |")
            continue
        med, lo, hi = ratio_stats(t, rules["backprop"])
        print(f"| {rule} | {sps:,.0f} | {med:.2f} | {lo:.2f}–{hi:.2f} |")
    med, lo, hi = ratio_stats(inner["PC inference step"], inner["forward pass (no autograd)"])
    per = statistics.median(s / (steps * 10) for s in inner["forward pass (no autograd)"]) * 1e6
    print(f"\n(b) one PC inference step / one forward pass (no autograd, {per:.0f} µs), batch {BATCH}: "
          f"median {med:.2f} (range {lo:.2f}–{hi:.2f}); W_1 x + b_1 cached\n")
    return 0
