"""Frémaux, Sprekeler & Gerstner 2010: angle between each rule's mean update and the gradient of
expected reward against the number of trials, and learning curves of the reward."""

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter, ScalarFormatter

from bioplaus.plotting import mean_and_spread

PROTOCOL = "fremaux2010_rpe"
COLORS = {"r_stdp_rpe": "#2ca02c", "r_stdp_reward": "#d62728", "r_max_reward": "#1f77b4"}


def make(store):
    fig, (ax_angle, ax_var, ax_reward) = plt.subplots(1, 3, figsize=(11, 3.3))
    df = store.metrics(protocol=PROTOCOL, metric=["update_angle", "estimate_variance", "reward"])
    for condition, d in df.groupby("condition", sort=False):
        color = COLORS.get(condition)
        for metric, ax in (("update_angle", ax_angle), ("estimate_variance", ax_var)):
            s = mean_and_spread(d[d["metric"] == metric])
            if len(s):
                ax.errorbar(s["step"], s["mean"], yerr=s["std"].fillna(0), marker="o", color=color,
                            label=f"{condition} (n={int(s['n'].max())})")
        r = mean_and_spread(d[(d["metric"] == "reward") & (d["layer"] == "all")], x="epoch")
        if len(r):
            ax_reward.plot(r["epoch"], r["mean"], color=color, label=condition)
            ax_reward.fill_between(r["epoch"], r["mean"] - r["std"].fillna(0), r["mean"] + r["std"].fillna(0), color=color, alpha=0.15, linewidth=0)
    ax_angle.axhline(90, color="0.6", linestyle=":", linewidth=1)
    ax_angle.set(xscale="log", xlabel="trials averaged (m)", ylabel="angle to reward gradient (deg)", ylim=(0, 180),
                 title="mean update vs likelihood-ratio gradient")
    ax_angle.legend(fontsize=7)
    ax_var.set(xscale="log", yscale="log", xlabel="trials averaged (m)", ylabel="tr Cov / |gradient|²", title="estimator variance")
    ms = sorted(df.loc[df["metric"] == "update_angle", "step"].unique())
    for ax in (ax_angle, ax_var):
        ax.set_xticks(ms)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax_reward.set(xlabel="trials", ylabel="mean reward per batch", ylim=(0, 1), title="learning")
    ax_reward.legend(fontsize=7)
    fig.tight_layout()
    return fig
