"""Kriener et al. 2022 (Yin-Yang): test accuracy of a 4-120-3 LIF network trained by surrogate BPTT, e-prop
(symmetric, random), spiking DFA, a reward-modulated three-factor rule and its read-out alone, beside rate networks trained by backprop and the published
ANN and shallow accuracies; each rule's update angle to surrogate BPTT (input weights) and the CKA of
hidden spike counts against the surrogate-BPTT network trained in lockstep."""

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread

PROTOCOL = "kriener2022_yinyang"
STYLE = {  # condition -> (colour, line style)
    "surrogate_bptt": ("#222222", "-"), "eprop_symmetric": ("#17becf", "--"), "eprop_random": ("#9467bd", "-"),
    "spiking_dfa": ("#1f77b4", "-."), "three_factor": ("#e377c2", "-"),
    "readout_only": ("#7f7f7f", "-"), "ann_backprop": ("#d62728", ":"), "linear_backprop": ("#ff7f0e", ":"),
}
PUBLISHED = [(0.987, "published 4-120-3 ANN (98.7 %)", "#d62728"), (0.643, "published linear network (64.3 %)", "#ff7f0e")]


def by_condition(ax, df, conditions):
    for c in conditions:
        d = df[df["condition"] == c]
        if not d.empty:
            colour, style = STYLE[c]
            s = mean_and_spread(d, "step")
            ax.plot(s["step"], s["mean"], color=colour, linestyle=style, label=c + (f" (n={s['n'].max()})" if s["n"].max() > 1 else ""))
            ax.fill_between(s["step"], s["mean"] - s["std"], s["mean"] + s["std"], color=colour, alpha=0.18, linewidth=0)


def make(store):
    fig, (ax_acc, ax_angle, ax_cka) = plt.subplots(1, 3, figsize=(13, 3.9))
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy", layer="all")
    by_condition(ax_acc, acc, STYLE)
    for value, label, colour in PUBLISHED:
        ax_acc.axhline(value, color=colour, linewidth=0.8, alpha=0.6, label=label)
    ax_acc.set(xlabel="update", ylabel="test accuracy", ylim=(0.3, 1.0), title="Yin-Yang, TTFS inputs (LIF 4-120-3)")
    ax_acc.legend(fontsize=6)

    angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="input")
    by_condition(ax_angle, angle, ["eprop_symmetric", "eprop_random", "spiking_dfa", "three_factor"])
    ax_angle.set(xlabel="update", ylabel="angle to surrogate BPTT (deg)", yscale="log", ylim=(1e-7, 180),
                 title="input weights: update vs surrogate gradient")
    ax_angle.text(0.02, 0.35, "symmetric e-prop = surrogate BPTT here\n(no recurrence, reset detached):\nonly float32 rounding",
                  transform=ax_angle.transAxes, fontsize=7, color="0.3")
    ax_angle.legend(fontsize=7)

    cka = store.metrics(protocol=PROTOCOL, metric="representation_cka", layer="hidden")
    by_condition(ax_cka, cka, ["eprop_symmetric", "eprop_random", "spiking_dfa", "three_factor", "readout_only"])
    ax_cka.set(xlabel="update", ylabel="CKA of hidden spike counts", title="vs the surrogate-BPTT network (same start)")
    ax_cka.legend(fontsize=7)
    fig.tight_layout()
    return fig
