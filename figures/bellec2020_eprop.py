"""Bellec et al. 2020: pattern generation by a recurrent LIF network trained by surrogate BPTT, truncated BPTT (10 steps), e-prop
(symmetric, random feedback), a reward-modulated three-factor rule and its read-out alone: loss on the pattern, and the angle of each rule's
update to the surrogate-BPTT gradient for the input and the recurrent weights."""

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread

PROTOCOL = "bellec2020_eprop"
STYLE = {"surrogate_bptt": "#222222", "truncated_bptt": "#ff7f0e", "eprop_symmetric": "#17becf", "eprop_random": "#9467bd", "three_factor": "#e377c2",
         "readout_only": "#7f7f7f"}


def by_condition(ax, df, conditions):
    if df.empty:
        ax.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax.transAxes, color="0.5")
    for c in conditions:
        d = df[df["condition"] == c]
        if not d.empty:
            s = mean_and_spread(d, "step")
            ax.plot(s["step"], s["mean"], color=STYLE[c], label=c + (f" (n={s['n'].max()})" if s["n"].max() > 1 else ""))
            ax.fill_between(s["step"], s["mean"] - s["std"], s["mean"] + s["std"], color=STYLE[c], alpha=0.18, linewidth=0)


def make(store):
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    loss = store.metrics(protocol=PROTOCOL, metric="test_loss", layer="all")
    by_condition(axes[0], loss, STYLE)
    axes[0].set(xlabel="update", ylabel="loss on the pattern", yscale="log", title="pattern generation, recurrent LIF (n = 100)")
    axes[0].legend(fontsize=7)
    for ax, layer in zip(axes[1:], ("input", "recurrent")):
        angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer=layer)
        by_condition(ax, angle, ["truncated_bptt", "eprop_symmetric", "eprop_random", "three_factor"])
        ax.axhline(90, color="0.6", linestyle=":", linewidth=1)
        ax.set(xlabel="update", ylabel="angle to surrogate BPTT (deg)", ylim=(0, 150), title=f"{layer} weights: update vs gradient")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
