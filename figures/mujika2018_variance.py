"""Mujika et al. 2018: bias angle of the mean of m estimates against m (unbiased rules fall like
1/sqrt(m)), and the estimators' variance tr Cov / |g|^2 against the network size n."""

import matplotlib.pyplot as plt
import numpy as np

from bioplaus.plotting import rule_style

PROTOCOL = "mujika2018_variance"


def _with_n(df):
    df = df.copy()
    df["n"] = df["condition"].str.extract(r"n=(\d+)")[0].astype(int)
    return df


def make(store):
    fig, (ax_m, ax_var, ax_bias) = plt.subplots(1, 3, figsize=(12, 3.6))
    bias = store.metrics(protocol=PROTOCOL, metric="estimate_bias_angle", layer="recurrent")
    var = store.metrics(protocol=PROTOCOL, metric="estimate_variance", layer="recurrent")
    if bias.empty:
        for ax in (ax_m, ax_var, ax_bias):
            ax.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax.transAxes, color="0.5")
        return fig
    bias, var = _with_n(bias), _with_n(var)
    sizes = sorted(bias["n"].unique())
    for (rule, n), d in bias.groupby(["rule", "n"]):
        s = d.groupby("step").value.mean()
        shade = 0.35 + 0.65 * sizes.index(n) / max(len(sizes) - 1, 1)
        title, colour = rule_style(rule)
        ax_m.plot(s.index, s.values, color=colour, alpha=shade, label=title if n == sizes[-1] else None)
    ms = np.array(sorted(bias["step"].unique()), dtype=float)
    ax_m.plot(ms, 40 / np.sqrt(ms), color="0.5", linestyle=":", label="∝ 1/√m")
    ax_m.set(xscale="log", yscale="log", xlabel="m (estimates averaged)", ylabel="angle of mean to BPTT (deg)",
             title="bias angle vs m (pale: n = 8 … dark: n = 64)")
    ax_m.legend(fontsize=7)

    m_max = var["step"].max()
    for ax, df, ylabel, title in ((ax_var, var, "tr Cov / |g|²", f"variance at m = {m_max}"),
                                  (ax_bias, bias, "angle of mean to BPTT (deg)", f"bias angle at m = {m_max}")):
        last = df[df["step"] == m_max]
        for rule, d in last.groupby("rule"):
            g = d.groupby("n").value
            ax.errorbar(g.mean().index, g.mean().values, yerr=g.std(ddof=0).fillna(0).values, marker="o",
                        color=rule_style(rule)[1], label=rule_style(rule)[0], capsize=2)
        ax.set(xscale="log", xlabel="hidden units n", ylabel=ylabel, title=title)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
    ax_var.set_yscale("log")
    ax_var.legend(fontsize=7)
    fig.tight_layout()
    return fig
