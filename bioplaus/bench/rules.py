"""``bioplaus bench rules``: training throughput of the rules and the cost of recording metrics.

Measured on a 784-1000-10 tanh network, batch 100, random inputs and labels, SGD,
with the same :class:`bioplaus.train.Trainer` step that runs use. The variants take
turns step by step (:func:`bioplaus.bench.timing.alternating`), each step timed alone
in the process's CPU time (one torch thread, so CPU time is the step's cost without the
waits for a core on a shared machine), and every ratio is taken between two variants of
the same repetition; the table gives the median ratio over repetitions and its range.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from bioplaus import models
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules import get as get_rule
from bioplaus.seeding import generator
from bioplaus.tasks.base import TaskInstance, cross_entropy
from bioplaus.core import Batch
from bioplaus.train import Trainer
from bioplaus.bench.timing import alternating, machine, ratio_stats

SPEC = FeedforwardSpec(name="bench_784_1000_10", sizes=(784, 1000, 10), activations=("tanh", "linear"), init="xavier_uniform")
BATCH = 100
ALIGNMENT = ["loss", "update_angle", "weight_angle", "norm_ratio", "sign_concordance"]
LEARNED = ["weight_change_angle", "weight_distance"]

# (label, rule, metrics, record_every); record_every 0 = never record.
VARIANTS = [
    ("torch: loss.backward()", None, [], 0),
    ("backprop", "backprop", [], 0),
    ("feedback_alignment", "feedback_alignment", [], 0),
    ("direct_feedback_alignment", "direct_feedback_alignment", [], 0),
    ("backprop + metrics every step", "backprop", ALIGNMENT, 1),
    ("backprop + metrics every 10th", "backprop", ALIGNMENT, 10),
    ("feedback_alignment + metrics every step", "feedback_alignment", ALIGNMENT, 1),
    ("feedback_alignment + metrics every 10th", "feedback_alignment", ALIGNMENT, 10),
    ("direct_feedback_alignment + metrics every step", "direct_feedback_alignment", ALIGNMENT, 1),
    ("direct_feedback_alignment + metrics every 10th", "direct_feedback_alignment", ALIGNMENT, 10),
    ("feedback_alignment + learned-weights reference, every 10th", "feedback_alignment", LEARNED, 10),
]


def _data(n_batches: int = 8) -> list[Batch]:
    g = generator(0, 0, "bench-data")
    return [
        Batch(torch.randn((BATCH, 784), generator=g), torch.randint(0, 10, (BATCH,), generator=g), cross_entropy)
        for _ in range(n_batches)
    ]


def _plain_torch_step_fn(batches):
    model = nn.Sequential(nn.Linear(784, 1000), nn.Tanh(), nn.Linear(1000, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step(i: int) -> None:
        b = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        cross_entropy(model(b.x), b.y).backward()
        opt.step()

    return step


def _trainer_step_fn(batches, rule_name: str, metrics: list[str], record_every: int):
    model = models.build(SPEC, generator(0, 0, "init"))
    rule = get_rule(rule_name)
    rule.setup(model, generator(0, 0, f"rule:{rule_name}"))
    task = TaskInstance(cross_entropy, lambda: batches[0], test=(batches[0].x, batches[0].y), train_eval=None, n_train=None, classification=True)
    trainer = Trainer(model, rule, task, ("sgd", {"lr": 0.01}), metrics, BATCH)

    def step(i: int) -> None:
        trainer.step(i, batches[i % len(batches)], record=record_every > 0 and i % record_every == 0)
        if len(trainer.rows) > 10000:
            trainer.rows.clear()

    return step


def measure(repeats: int = 7, steps: int = 60, threads: int = 1) -> dict[str, list[float]]:
    """Seconds per ``steps`` steps of each variant, one entry per repetition."""
    torch.set_num_threads(threads)
    batches = _data()
    fns = {}
    for label, rule, metrics, every in VARIANTS:
        fns[label] = _plain_torch_step_fn(batches) if rule is None else _trainer_step_fn(batches, rule, metrics, every)
    return alternating(fns, repeats, steps)


def report(times: dict[str, list[float]], steps: int, threads: int) -> str:
    lines = [
        f"{machine(threads)}. Network 784-1000-10 tanh, batch {BATCH}, SGD; "
        f"{len(next(iter(times.values())))} repetitions of {steps} steps, variants alternating step by step, CPU time.",
        "",
        "| variant | samples/s (median) | ratio | range | ratio against |",
        "|---|---:|---:|---:|---|",
    ]
    for label, *_ in VARIANTS:
        sps = statistics.median(steps * BATCH / t for t in times[label])
        if label == "backprop" or label.startswith("torch"):
            base = "torch: loss.backward()" if label == "backprop" else None
        elif " + " in label:
            base = label.split(" + ")[0]
        else:
            base = "backprop"
        if base is None:
            lines.append(f"| {label} | {sps:,.0f} | | | |")
            continue
        # a throughput ratio for rules; a time ratio (cost) for metric variants
        if " + " in label:
            med, lo, hi = ratio_stats(times[label], times[base])
            lines.append(f"| {label} | {sps:,.0f} | {med:.3f} × time | {lo:.3f}–{hi:.3f} | {base} |")
        else:
            med, lo, hi = ratio_stats(times[base], times[label])
            lines.append(f"| {label} | {sps:,.0f} | {med:.3f} × throughput | {lo:.3f}–{hi:.3f} | {base} |")
    return "\n".join(lines)


def main(repeats: int = 7, steps: int = 60, threads: int = 1) -> int:
    print(report(measure(repeats, steps, threads), steps, threads))
    return 0
