"""The feedback-alignment family on a 40-256-256-10 tanh MLP (MNIST-1D): test accuracy beside the two baselines
(read-out only; a linear model, backprop's colour dashed), how far each rule's feedback weights are from W^T
(weight angle) and its updates from backprop's (update angle)."""

import matplotlib.pyplot as plt

from bioplaus.plotting import condition_styles, finish, log_steps, plot_by_rule

PROTOCOL = "akrout2019_digits"


def make(store):
    fig, axes = plt.subplots(2, 3, figsize=(12, 7))
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy")
    plot_by_rule(axes[0, 0], acc)
    log_steps(axes[0, 0], acc)
    axes[0, 0].set(xlabel="step (symlog)", ylabel="test accuracy", ylim=(0, 1.0), title="MLP on MNIST-1D")

    for ax, layer in zip(axes[0, 1:], ("hidden2", "output")):
        w = store.metrics(protocol=PROTOCOL, metric="weight_angle", layer=layer)
        plot_by_rule(ax, w)
        ax.axhline(90, color="0.6", linestyle=":", linewidth=1)
        ax.set(xlabel="step", ylabel="angle between B and Wᵀ (deg)", ylim=(0, 100), title=f"weight angle, {layer}")

    for ax, layer in zip(axes[1, :2], ("hidden1", "hidden2")):
        u = store.metrics(protocol=PROTOCOL, metric="update_angle", layer=layer)
        plot_by_rule(ax, u[u["condition"] != "backprop"])
        ax.axhline(90, color="0.6", linestyle=":", linewidth=1)
        ax.set(xlabel="step", ylabel="angle to backprop (deg)", ylim=(0, 100), title=f"update angle, {layer}")

    ax = axes[1, 2]
    if not acc.empty:
        last = acc[acc["step"] == acc.groupby("condition")["step"].transform("max")]
        stats = last.groupby("condition", sort=False).agg(rule=("rule", "first"), mean=("value", "mean"), std=("value", "std"))
        y = range(len(stats))
        styles = condition_styles(last)
        ax.barh(list(y), stats["mean"], xerr=stats["std"].fillna(0), color=[styles[c][1] or "0.5" for c in stats.index])
        ax.set_yticks(list(y), [styles[c][0] for c in stats.index])
        ax.invert_yaxis()
        lo = max(0.0, float(stats["mean"].min()) - 0.1)
        ax.set(xlim=(lo, 1.0), xlabel="final test accuracy (mean ± s.d.)", title="at the last step")
    finish(fig, legend_from=axes[0, 0], ncol=4)
    return fig
