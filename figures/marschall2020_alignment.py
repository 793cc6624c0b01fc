"""Marschall et al. 2020: test loss of each online rule, the angle of its update to BPTT's
gradient over training, and the final angle and norm ratio per rule (the metric
``update_norm_ratio``, |update| / |BPTT gradient|; ``norm_ratio`` means |B| / |W| in this project)."""

import matplotlib.pyplot as plt
import numpy as np

from bioplaus.plotting import condition_styles, finish, plot_by_rule

PROTOCOL = "marschall2020_alignment"


def make(store):
    fig, (ax_loss, ax_angle, ax_bar) = plt.subplots(1, 3, figsize=(12, 4.2))
    loss = store.metrics(protocol=PROTOCOL, metric="test_loss")
    plot_by_rule(ax_loss, loss)
    ax_loss.set(xlabel="update", ylabel="test loss", yscale="log", title="delayed recall, n = 32")

    angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="recurrent")
    plot_by_rule(ax_angle, angle[~angle["rule"].isin(["bptt", "rtrl"])])
    ax_angle.axhline(90, color="0.6", linestyle=":", linewidth=1)
    ax_angle.set(xlabel="update", ylabel="angle to BPTT (deg)", ylim=(0, 120), title="recurrent weights: update vs gradient")

    ratio = store.metrics(protocol=PROTOCOL, metric="update_norm_ratio", layer="recurrent")
    if not angle.empty:
        rules = [c for c in angle["condition"].unique()]
        mean_angle = [angle[angle["condition"] == c].groupby("seed").value.mean().mean() for c in rules]
        mean_ratio = [ratio[ratio["condition"] == c].value.median() for c in rules]
        styles = condition_styles(angle)
        colors = [styles[c][1] or "0.5" for c in rules]
        y = np.arange(len(rules))
        ax_bar.barh(y, mean_angle, color=colors)
        for yi, a, r in zip(y, mean_angle, mean_ratio):
            ax_bar.text(a + 1, yi, f"{a:.1f}°, |ĝ|/|g| {r:.2g}", va="center", fontsize=7)
        ax_bar.set_yticks(y, [styles[c][0] for c in rules], fontsize=7)
        ax_bar.invert_yaxis()
    ax_bar.set(xlabel="mean angle over training (deg)", xlim=(0, 150), title="mean alignment and median norm ratio")
    finish(fig, legend_from=ax_loss, ncol=5)
    return fig
