"""Song et al. 2024: target alignment of one update against network depth, backprop against prospective
configuration (predictive coding, output clamped, 512 inference steps), with each seed's value; and the
angle of predictive coding's update to backprop's."""

import re

import matplotlib.pyplot as plt

PROTOCOL = "song2024_prospective"
STYLE = {"backprop": ("#222222", "o", "backprop"), "pc": ("#17becf", "s", "prospective configuration (PC, T = 512)")}


def by_depth(df):
    """{rule: [(depth, values)]} for the conditions named ``<rule>_L<depth>``."""
    out = {}
    for cond, d in df.groupby("condition", sort=False):
        m = re.fullmatch(r"(backprop|pc)_L(\d+)", cond)
        if m:
            out.setdefault(m.group(1), []).append((int(m.group(2)), d["value"].to_numpy()))
    return {k: sorted(v) for k, v in out.items()}


def make(store):
    fig, (ax_align, ax_angle) = plt.subplots(1, 2, figsize=(11, 4.3))
    align = store.metrics(protocol=PROTOCOL, metric="target_alignment", layer="all")
    align = align[align["step"] == 0]
    for rule, series in by_depth(align).items():
        colour, marker, label = STYLE[rule]
        depths = [d for d, _ in series]
        for d, v in series:
            ax_align.scatter([d] * len(v), v, color=colour, marker=marker, alpha=0.25, s=14)
        n = len(series[0][1]) if series else 0
        ax_align.plot(depths, [v.mean() for _, v in series], color=colour, marker=marker, label=f"{label}, mean (n={n})")
    t1 = align[align["condition"] == "pc_T1_L16"]["value"]
    if not t1.empty:
        ax_align.scatter([16.6], [t1.mean()], color="#d62728", marker="x", s=50,
                         label="PC with 1 inference step, L = 16 (almost read-out only)")
    ax_align.set(xscale="log", xlabel="depth L (weight layers of width 64)", ylim=(0, 1.05),
                 ylabel="target alignment cos(Δo, y − o)", title="one update from the initial weights")
    ax_align.set_xticks([1, 2, 4, 8, 16], labels=["1", "2", "4", "8", "16"])
    ax_align.legend(fontsize=8, loc="lower left")
    angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="all")
    angle = angle[angle["step"] == 0]
    series = by_depth(angle).get("pc", [])
    if series:
        ax_angle.plot([d for d, _ in series], [v.mean() for _, v in series], color=STYLE["pc"][0], marker="s",
                      label="prospective configuration (PC, T = 512)")
    ax_angle.set(xscale="log", xlabel="depth L", ylabel="angle of the weight update to backprop's (degrees)", ylim=(0, 90),
                 title="PC's update is not backprop's (mean over seeds)")
    ax_angle.set_xticks([1, 2, 4, 8, 16], labels=["1", "2", "4", "8", "16"])
    if series:
        ax_angle.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
