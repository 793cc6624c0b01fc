"""Tallec & Ollivier 2018, influence balancing: loss of each rule (truncated BPTT diverges) and
the final value of the one trained parameter theta against BPTT's."""

import matplotlib.pyplot as plt
import numpy as np

from bioplaus.plotting import condition_styles, mean_and_spread, plot_by_rule

PROTOCOL = "tallec2018_influence_balancing"


def make(store):
    fig, (ax_loss, ax_theta) = plt.subplots(1, 2, figsize=(10, 3.6))
    loss = store.metrics(protocol=PROTOCOL, metric="loss")
    truncated = loss["condition"].str.startswith("truncated")
    plot_by_rule(ax_loss, loss[~truncated])
    conditions = list(dict.fromkeys(loss[truncated]["condition"]))
    styles = condition_styles(loss)
    for i, condition in enumerate(conditions):
        s = mean_and_spread(loss[loss["condition"] == condition])
        ax_loss.plot(s["step"], s["mean"], linestyle=":", color=styles[condition][1],
                     alpha=1.0 - 0.6 * i / max(len(conditions) - 1, 1), label=condition)
    ax_loss.set(xlabel="update", ylabel="loss", yscale="log", title="influence balancing (23 linear units)")
    ax_loss.legend(fontsize=7)

    runs = store.runs(protocol=PROTOCOL)
    thetas: dict[str, list[float]] = {}
    for _, run in runs.iterrows():
        arrays = store.arrays(int(run["id"]))
        if "final/recurrent.weight" in arrays:
            thetas.setdefault(run["condition"], []).append(float(arrays["final/recurrent.weight"][0, -1]))
    names = list(thetas)
    values = [np.nanmean(v) for v in thetas.values()]
    ax_theta.barh(range(len(names)), values, color=[styles.get(n, (n, None))[1] or "0.5" for n in names])
    ax_theta.set_yticks(range(len(names)), names, fontsize=7)
    ax_theta.invert_yaxis()
    ax_theta.axvline(0.5, color="0.6", linestyle=":", linewidth=1)
    for y, v in enumerate(values):
        ax_theta.text(v, y, f" {v:.3g}", va="center", ha="left" if v >= 0 else "right", fontsize=7)
    ax_theta.set_xscale("symlog", linthresh=0.1)
    ax_theta.set_xlim(left=-1.0)
    ax_theta.set(xlabel="final θ (start 0.5, dotted; symlog)", title="θ after training (mean over seeds)")
    fig.tight_layout()
    return fig
