"""Zenke & Vogels 2021: test accuracy of a LIF network on Randman trained by surrogate BPTT, by the surrogate's
shape (fast sigmoid, sigmoid, triangle at slope 10, normalised to a peak of 1), by the fast sigmoid's slope
(1, 10, 100), by its scale (peak 1 or 10, the reset detached or differentiated) and by the manifold's dimension
(1, 2, 3), beside the read-out-only control."""

import matplotlib.pyplot as plt

PROTOCOL = "zenke2021_randman"
GROUPS = [
    ("shape (slope 10)", [("fast_sigmoid_slope10", "fast sigmoid"), ("sigmoid_slope10", "sigmoid"), ("triangle_slope10", "triangle")]),
    ("fast-sigmoid slope", [("fast_sigmoid_slope1", "1"), ("fast_sigmoid_slope10", "10"), ("fast_sigmoid_slope100", "100")]),
    ("scale (peak); reset", [("fast_sigmoid_slope10", "1; detached"), ("asymptotic_slope10", "10; detached"),
                             ("fast_sigmoid_slope10_reset_differentiated", "1; differentiated"),
                             ("asymptotic_slope10_reset_differentiated", "10; differentiated")]),
    ("manifold dimension", [("fast_sigmoid_slope10", "1"), ("dim2", "2"), ("dim3", "3")]),
    ("control", [("readout_only", "read-out only")]),
]
COLOURS = ["#222222", "#1f77b4", "#d62728", "#2ca02c", "#7f7f7f"]


def make(store):
    fig, (ax_curve, ax_bar) = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw={"width_ratios": [1, 1.7]})
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy", layer="all")
    if acc.empty:
        ax_bar.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax_bar.transAxes, color="0.5")
        return fig
    palette = plt.get_cmap("tab20").colors  # eleven conditions: no two curves share a colour
    for k, (condition, d) in enumerate(acc.groupby("condition", sort=False)):
        m = d.groupby("step").value.mean()
        ax_curve.plot(m.index, m.values, color=palette[k % len(palette)], label=f"{condition} (n={d.seed.nunique()})",
                      linestyle="--" if condition == "readout_only" else "-")
    ax_curve.set(xlabel="update", ylabel="test accuracy", title="Randman, 20-100-10 LIF, surrogate BPTT")
    ax_curve.legend(fontsize=6, loc="lower right", ncol=2)
    last = acc[acc["step"] == acc.groupby("run_id")["step"].transform("max")]
    x, ticks, labels = 0, [], []
    for (group, members), colour in zip(GROUPS, COLOURS):
        for condition, label in members:
            v = last[last["condition"] == condition]["value"]
            if len(v):
                ax_bar.bar(x, v.mean(), yerr=v.std(ddof=0) if len(v) > 1 else None, color=colour, capsize=3)
                top = v.mean() + (v.std(ddof=0) if len(v) > 1 else 0.0)
                ax_bar.text(x, top + 0.015, f"{v.mean():.2f}", ha="center", fontsize=7)
            ticks.append(x)
            labels.append(label)
            x += 1
        ax_bar.text(x - len(members) / 2 - 0.5, -0.2, group, ha="center", fontsize=8, transform=ax_bar.get_xaxis_transform())
        x += 0.6
    ax_bar.set_xticks(ticks, labels, fontsize=7, rotation=30)
    ax_bar.set(ylabel="final test accuracy", ylim=(0, 1.1), yticks=[0, 0.2, 0.4, 0.6, 0.8, 1.0], title="by surrogate shape, slope, scale and manifold dimension")
    fig.tight_layout()
    return fig
