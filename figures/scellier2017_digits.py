"""EP against backprop (implicit gradient, same network) on the 8x8 digits, one and two hidden
layers: test accuracy, update angle to the implicit gradient and relaxation length."""

import matplotlib.pyplot as plt

PROTOCOLS = {"scellier2017_digits": "64-256-10", "scellier2017_digits_2h": "64-256-256-10"}
COLORS = {"backprop": "black", "ep_random_sign": "tab:blue", "ep_centered": "tab:red"}
LABELS = {"backprop": "backprop (implicit gradient)", "ep_random_sign": "EP, β = ±0.5 (random sign)",
          "ep_centered": "EP, centered β = 0.5"}


def curves(ax, df):
    if df.empty:
        ax.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax.transAxes, color="0.5")
        return
    for cond, d in df.groupby("condition", sort=False):
        g = d.groupby("step")["value"]
        m, s = g.mean(), g.std(ddof=0).fillna(0)
        ax.plot(m.index, m.values, color=COLORS.get(cond), label=f"{LABELS.get(cond, cond)} (n={d['seed'].nunique()})")
        ax.fill_between(m.index, m - s, m + s, color=COLORS.get(cond), alpha=0.18, linewidth=0)


def make(store):
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    for row, (protocol, arch) in enumerate(PROTOCOLS.items()):
        acc = store.metrics(protocol=protocol, metric="test_accuracy")
        curves(axes[row, 0], acc)
        axes[row, 0].set(xlabel="step", ylabel="test accuracy", ylim=(0.5, 1.0), title=f"8x8 digits, {arch} hard sigmoid")
        axes[row, 0].legend(fontsize=7, loc="lower right")
        ang = store.metrics(protocol=protocol, metric="update_angle", layer="all")
        curves(axes[row, 1], ang[ang["condition"] != "backprop"])
        axes[row, 1].set(xlabel="step", ylabel="angle to implicit gradient (deg)", ylim=(0, 90),
                         title="update angle, all parameters")
        steps = store.metrics(protocol=protocol, metric="relax_steps", layer="free")
        curves(axes[row, 2], steps)
        axes[row, 2].set(xlabel="step", ylabel="steps to tolerance", title="free-phase relaxation length")
    fig.tight_layout()
    return fig
