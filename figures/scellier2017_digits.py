"""EP against backprop (implicit gradient, same network) on the 8x8 digits (or MNIST, for runs made
with --data-dir), one and two hidden layers: test accuracy, update angle to the implicit gradient
and relaxation length. The published MNIST errors of Scellier & Bengio 2017 would be drawn beside
the accuracy; they were not retrieved (see the protocols' docstrings), and the panel says so."""

import json

import matplotlib.pyplot as plt

PROTOCOLS = ["scellier2017_digits", "scellier2017_digits_2h"]
PUBLISHED = "Scellier & Bengio 2017, MNIST test error: not retrieved"
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


def data_and_network(store, protocol):
    """``"8x8 digits, 64-256-10 hard sigmoid"`` or ``"MNIST, 784-500-10 ..."``, from the stored run configs."""
    configs = [json.loads(c) for c in store.runs(protocol)["config"]]
    names = {"digits": "8x8 digits", "mnist": "MNIST"}
    found = sorted({(names.get(c["task"]["task"], c["task"]["task"]), "-".join(map(str, c["model"]["sizes"])),
                     c["model"]["activation"].replace("_", " ")) for c in configs})
    return "; ".join(f"{data}, {sizes} {activation}" for data, sizes, activation in found) or protocol


def make(store):
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.6))
    for row, protocol in enumerate(PROTOCOLS):
        acc = store.metrics(protocol=protocol, metric="test_accuracy")
        curves(axes[row, 0], acc)
        axes[row, 0].set(xlabel="step", ylabel="test accuracy", ylim=(0.5, 1.0), title=data_and_network(store, protocol))
        axes[row, 0].text(0.02, 0.03, PUBLISHED, transform=axes[row, 0].transAxes, fontsize=7, color="0.4")
        if not acc.empty:
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
