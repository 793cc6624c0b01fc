"""Song et al. 2024: target alignment of each update and the test loss over training, backprop against
prospective configuration (predictive coding, output clamped, inference to equilibrium) and the shallow baseline."""

import matplotlib.pyplot as plt

PROTOCOL = "song2024_prospective"
COLOURS = {"backprop": "#222222", "prospective_configuration": "#17becf", "shallow": "#7f7f7f"}


def make(store):
    fig, (ax_align, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.3))
    align = store.metrics(protocol=PROTOCOL, metric="target_alignment", layer="all")
    for cond, d in align.groupby("condition", sort=False):
        s = d.groupby("step")["value"].mean()
        ax_align.plot(s.index, s.rolling(5, min_periods=1).mean().values, color=COLOURS.get(cond), label=cond.replace("_", " "))
    ax_align.set(xlabel="step\n(shallow: 1 by construction, a read-out-only step moves o along y − o;\n"
                        "alignment says nothing of how much is learned)",
                 ylabel="target alignment cos(Δo, y − o) (5-point mean)", title="target alignment of each one-sample update")
    ax_align.legend(fontsize=8, loc="lower right")
    loss = store.metrics(protocol=PROTOCOL, metric="test_loss", layer="all")
    for cond, d in loss.groupby("condition", sort=False):
        s = d.groupby("step")["value"].mean()
        ax_loss.plot(s.index, s.values, color=COLOURS.get(cond), label=f"{cond.replace('_', ' ')} (n={d['seed'].nunique()})")
    ax_loss.set(xlabel="step", ylabel="test loss (1/2 squared error)", yscale="log", title="deep linear 8-8-8-8-4, teacher task")
    if not loss.empty:
        ax_loss.legend(fontsize=8)
    fig.tight_layout()
    return fig
