"""EP's updates against BPTT's gradients, step by step through the nudged phase (Ernoult et al. 2019, GDU property)."""

import matplotlib.pyplot as plt
import numpy as np

PROTOCOL = "ernoult2019_gdu"
COLORS = {0.1: "tab:red", 0.01: "tab:blue", 0.001: "tab:green"}


def parse(condition: str) -> tuple[str, float]:
    nudging, beta = condition.split("_beta")
    return nudging, float(beta)


def curves(ax, df, layer):
    d = df[df["layer"] == layer]
    if d.empty:
        ax.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax.transAxes, color="0.5")
        return
    for cond, g in d.groupby("condition", sort=False):
        nudging, beta = parse(cond)
        m = g.groupby("step")["value"].mean()
        ax.plot(m.index, m.values, color=COLORS.get(beta, "0.3"), linestyle="-" if nudging == "positive" else "--",
                label=f"{nudging}, β={beta:g}")
    ax.set_yscale("log")


def make(store):
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.2))
    err = store.metrics(protocol=PROTOCOL, metric="gdu_rel_error")
    ang = store.metrics(protocol=PROTOCOL, metric="gdu_angle")

    curves(axes[0, 0], err, "all")
    axes[0, 0].set(xlabel="nudged step t", ylabel="|ΔEP + ∇BPTT| / |∇BPTT|", title="weight updates, all parameters")
    axes[0, 0].legend(fontsize=7, ncol=2)
    curves(axes[0, 1], ang, "all")
    axes[0, 1].set(xlabel="nudged step t", ylabel="angle (deg)", title="angle ΔEP vs −∇BPTT, all parameters")

    ax = axes[1, 0]
    one = ang[ang["condition"] == "positive_beta0.01"]
    for layer, g in one.groupby("layer", sort=True):
        if layer == "all" or layer.startswith("b"):
            continue
        m = g.groupby("step")["value"].mean()
        ax.plot(m.index, m.values, linestyle="--" if layer.startswith("neurons") else "-", label=layer)
    ax.set(xlabel="nudged step t", ylabel="angle (deg)", yscale="log", title="per layer, positive nudging, β = 0.01")
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    t_show = 5
    at = err[(err["layer"] == "all") & (err["step"] == t_show)]
    for nudging, marker in (("positive", "o"), ("centered", "s")):
        rows = [(parse(c)[1], g["value"].mean()) for c, g in at.groupby("condition") if parse(c)[0] == nudging]
        if rows:
            b, v = np.array(sorted(rows)).T
            slope = np.polyfit(np.log(b), np.log(v), 1)[0] if len(b) > 1 else float("nan")
            ax.loglog(b, v, marker=marker, label=f"{nudging}: slope {slope:.2f}")
    ax.set(xlabel="β", ylabel=f"relative error at t = {t_show}", title="bias against β (O(β) vs O(β²))")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
