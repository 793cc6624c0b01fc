"""Salimans et al. 2017: ES estimator statistics against m beside their theory lines, and test accuracy against steps
and against forward passes (equal numbers of loss evaluations)."""

import itertools
import json
import math

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread

PROTOCOL = "salimans2017_es"
#: one colour per condition (several conditions share the rule ``evolution_strategies``)
COLOURS = {"backprop": "#222222", "shallow": "#7f7f7f", "es N=16": "#9ecae1", "es N=64": "#3182bd", "es N=256": "#08306b",
           "es N=64 sigma=0.5": "#e6550d", "es N=64 ranks": "#31a354", "es N=64 error rate": "#756bb1",
           "weight_perturbation": "#e377c2", "node_perturbation": "#8c564b"}


def configs(store) -> dict[str, dict]:
    runs = store.runs(PROTOCOL)
    return {c: json.loads(d.config.iloc[0]) for c, d in runs.groupby("condition")}


def parameters(model: dict) -> int:
    """d of a feedforward spec: weights and biases of every layer."""
    s = model["sizes"]
    return sum((a + int(model["bias"])) * b for a, b in itertools.pairwise(s))


def forward_passes_per_step(config: dict) -> int:
    """Loss evaluations per update: N members for ES, a clean and a perturbed pass for weight and node
    perturbation, and a forward and a backward pass (counted as two) for backprop and shallow."""
    return config["rule"].get("population", 2)


def make(store):
    fig, ((ax_bias, ax_var), (ax_step, ax_eval)) = plt.subplots(2, 2, figsize=(10, 7.2))
    cfg = configs(store)
    for metric, ax in (("estimate_bias_angle", ax_bias), ("estimate_variance", ax_var)):
        df = store.metrics(protocol=PROTOCOL, metric=metric)
        for condition, d in df.groupby("condition", sort=False):
            s = mean_and_spread(d)
            ax.plot(s["step"], s["mean"], marker=".", color=COLOURS.get(condition), label=condition)
        ax.set_xscale("log")
    for condition, c in cfg.items():
        n = c["rule"].get("population")
        if n is None or c["rule"].get("fitness_shaping") or c["rule"]["sigma"] > 0.1 or c["rule"]["fitness"] != "loss":
            continue
        d = parameters(c["model"])
        ms = [2**i for i in range(11)]
        ax_bias.plot(ms, [math.degrees(math.atan(math.sqrt((d - 1) / (n * m / 2)))) for m in ms], ls="--", lw=0.8,
                     color=COLOURS.get(condition))
        ax_var.axhline(2 * (d + 1) / n, ls="--", lw=0.8, color=COLOURS.get(condition))
    ax_bias.set(xlabel="estimates averaged (m)", ylabel="angle of the mean to the gradient (deg)", ylim=(0, 95),
                title="bias angle (dashed: atan sqrt((d-1)/(Nm/2)))")
    ax_var.set(xlabel="estimates averaged (m)", ylabel="tr Cov / |gradient|²", yscale="log",
               title="estimator variance (dashed: 2(d+1)/N)")
    ax_var.legend(fontsize=6, ncol=2)
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy")
    for condition, d in acc.groupby("condition", sort=False):
        s = mean_and_spread(d)
        per = forward_passes_per_step(cfg[condition]) if condition in cfg else 2
        later = s[s["step"] > 0]  # step 0 has had no forward pass: off a log axis
        for ax, t, x in ((ax_step, s, s["step"]), (ax_eval, later, later["step"] * per)):
            ax.plot(x, t["mean"], color=COLOURS.get(condition), label=condition)
            ax.fill_between(x, t["mean"] - t["std"], t["mean"] + t["std"], color=COLOURS.get(condition), alpha=0.15, lw=0)
    ax_step.set(xlabel="update (batch of 100)", ylabel="test accuracy", ylim=(0, 1), title="equal numbers of updates")
    ax_eval.set(xlabel="forward passes of the batch (ES: N per update)", ylabel="test accuracy", xscale="log", ylim=(0, 1),
                title="equal numbers of loss evaluations")
    ax_step.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig
