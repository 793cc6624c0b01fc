"""Weber et al. 2019: REINFORCE with and without baselines against the exact gradient of the expected loss
(estimator statistics at the initial weights, each update's angle during training, test accuracy)."""

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread

PROTOCOL = "weber2019_baselines"
COLOURS = {"backprop": "#222222", "reinforce": "#b15928", "reinforce (moving average)": "#fdbf6f", "relax": "#1b9e77",
           "reinforce (critic)": "#6a3d9a"}


def make(store):
    fig, ((ax_bias, ax_var), (ax_angle, ax_acc)) = plt.subplots(2, 2, figsize=(10, 7.2))
    for metric, ax in (("estimate_bias_angle", ax_bias), ("estimate_variance", ax_var)):
        df = store.metrics(protocol=PROTOCOL, metric=metric)
        for condition, d in df.groupby("condition", sort=False):
            s = mean_and_spread(d)
            ls = ":" if condition == "reinforce (critic)" else "-"  # untrained at step 0: the same as no baseline
            ax.plot(s["step"], s["mean"], marker=".", ls=ls, color=COLOURS.get(condition), label=condition)
        ax.set_xscale("log")
    ax_bias.set(xlabel="estimates averaged (m)", ylabel="angle of the mean to the exact gradient (deg)", ylim=(0, 95),
                title="at the initial weights: bias angle")
    ax_var.set(xlabel="estimates averaged (m)", ylabel="tr Cov / |gradient|²", yscale="log",
               title="at the initial weights: variance\n(critic not yet trained = no baseline)")
    ax_bias.legend(fontsize=7, loc="upper right")  # the curves fall from the upper left: that corner is free
    angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="hidden1")
    for condition, d in angle[angle["step"] > 0].groupby("condition", sort=False):
        if condition == "backprop":
            continue
        s = mean_and_spread(d)
        smooth = s["mean"].rolling(4, min_periods=1).mean()
        ax_angle.plot(s["step"], smooth, color=COLOURS.get(condition), label=condition)
    ax_angle.set(xlabel="update", ylabel="update angle to the exact gradient (deg)", ylim=(0, 95),
                 title="hidden (stochastic) layer during training\n(running mean of 4 records)")
    ax_angle.legend(fontsize=7)
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy")
    for condition, d in acc.groupby("condition", sort=False):
        s = mean_and_spread(d)
        ax_acc.plot(s["step"], s["mean"], color=COLOURS.get(condition), label=condition)
        ax_acc.fill_between(s["step"], s["mean"] - s["std"], s["mean"] + s["std"], color=COLOURS.get(condition), alpha=0.15, lw=0)
    ax_acc.set(xlabel="update (batch of 100)", ylabel="test accuracy (mean-field output)", ylim=(0, 1),
               title="learning (step 0: learning off)")
    ax_acc.legend(fontsize=7)
    fig.tight_layout()
    return fig
