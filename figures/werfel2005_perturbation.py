"""Werfel, Xie & Seung 2005: learning curves of direct gradient descent, node perturbation, weight
perturbation and reward-modulated Hebbian learning, and their estimator statistics against m."""

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread, plot_by_rule

PROTOCOL = "werfel2005_perturbation"


def make(store):
    fig, (ax_loss, ax_bias, ax_var) = plt.subplots(1, 3, figsize=(11, 3.3))
    loss = store.metrics(protocol=PROTOCOL, metric="test_loss")
    plot_by_rule(ax_loss, loss)
    ax_loss.set(xlabel="step (one example each)", ylabel="test loss  ½|e|²", yscale="log", title="learning curves")
    ax_loss.legend(fontsize=7)
    for metric, ax in (("estimate_bias_angle", ax_bias), ("estimate_variance", ax_var)):
        df = store.metrics(protocol=PROTOCOL, metric=metric)
        for condition, d in df.groupby("condition", sort=False):
            s = mean_and_spread(d)
            ax.plot(s["step"], s["mean"], marker=".", label=condition)
        ax.set_xscale("log")
    ax_bias.set(xlabel="estimates averaged (m)", ylabel="angle of the mean to the gradient (deg)", ylim=(0, 95),
                title="bias: falls like 1/sqrt(m) if unbiased")
    ax_var.set(xlabel="estimates averaged (m)", ylabel="tr Cov / |gradient|²", yscale="log", title="estimator variance")
    ax_var.legend(fontsize=7)
    fig.tight_layout()
    return fig
