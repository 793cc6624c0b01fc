"""Backprop, FA, DFA and read-out only (shallow) on MNIST-1D: test accuracy, update angles per layer, and
how far the learned weights and representations are from backprop's."""

import matplotlib.pyplot as plt

from bioplaus.plotting import finish, log_steps, plot_by_rule

PROTOCOL = "fa_digits"


def make(store):
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 6.2))
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy")
    plot_by_rule(axes[0, 0], acc)
    log_steps(axes[0, 0], acc)
    axes[0, 0].set(xlabel="step (symlog)", ylabel="test accuracy", ylim=(0, 1.0), title="MNIST-1D, 40-256-256-10 tanh")

    for ax, layer in zip(axes[0, 1:], ("hidden1", "hidden2")):
        df = store.metrics(protocol=PROTOCOL, metric="update_angle", layer=layer)
        plot_by_rule(ax, df[df["rule"] != "backprop"])
        ax.axhline(90, color="0.6", linestyle=":", linewidth=1)
        ax.set(xlabel="step", ylabel="angle to backprop (deg)", ylim=(0, 100), title=f"update angle, {layer}")

    w = store.metrics(protocol=PROTOCOL, metric="weight_angle", layer="all")
    plot_by_rule(axes[1, 0], w)
    axes[1, 0].axhline(90, color="0.6", linestyle=":", linewidth=1)
    axes[1, 0].set(xlabel="step", ylabel="angle B vs Wᵀ (deg)", ylim=(0, 100), title="feedback vs forward weights")

    change = store.metrics(protocol=PROTOCOL, metric="weight_change_angle", layer="all")
    plot_by_rule(axes[1, 1], change[change["rule"] != "backprop"])
    axes[1, 1].set(xlabel="step", ylabel="angle (deg)", ylim=(0, 100), title="total weight change vs backprop's")

    cka = store.metrics(protocol=PROTOCOL, metric="representation_cka", layer="hidden2")
    plot_by_rule(axes[1, 2], cka[cka["rule"] != "backprop"])
    axes[1, 2].set(xlabel="step", ylabel="linear CKA", ylim=(0, 1.02), title="hidden2 representation vs backprop's")
    finish(fig, legend_from=axes[0, 0], ncol=3)
    return fig
