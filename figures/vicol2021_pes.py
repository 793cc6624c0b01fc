"""Vicol et al. 2021 on influence balancing: loss and the update's sign (0 or 180 degrees) for BPTT, truncated BPTT,
truncated ES, PES and UORO."""

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread

PROTOCOL = "vicol2021_pes"
COLOURS = {"bptt": "#222222", "truncated_bptt k=10": "#ff7f0e", "truncated_es k=10": "#e6550d", "pes k=10": "#7570b3",
           "uoro": "#2ca02c"}


def make(store):
    fig, (ax_loss, ax_angle) = plt.subplots(1, 2, figsize=(10, 3.6))
    for metric, ax in (("loss", ax_loss), ("update_angle", ax_angle)):
        df = store.metrics(protocol=PROTOCOL, metric=metric)
        for condition, d in df.groupby("condition", sort=False):
            s = mean_and_spread(d)
            ls = "--" if condition.startswith("truncated") else "-"
            ax.plot(s["step"], s["mean"], ls=ls, marker=".", color=COLOURS.get(condition), label=condition)
    ax_loss.set(xlabel="update (one 80-step sequence)", ylabel="loss", yscale="log", title="loss (mean over seeds)")
    ax_angle.set(xlabel="update", ylabel="update angle to the full gradient (deg)", ylim=(-5, 185), yticks=[0, 90, 180],
                 title="0: right sign, 180: wrong sign")
    ax_loss.legend(fontsize=7)
    fig.tight_layout()
    return fig
