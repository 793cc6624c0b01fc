"""Lillicrap et al. 2016, Fig. 2: loss of backprop, feedback alignment and shallow learning,
and the angle between FA's and backprop's hidden-layer updates."""

import matplotlib.pyplot as plt

from bioplaus.plotting import finish, plot_by_rule

PROTOCOL = "lillicrap2016_linear"


def make(store):
    fig, (ax_loss, ax_angle, ax_w) = plt.subplots(1, 3, figsize=(10, 3.5))
    loss = store.metrics(protocol=PROTOCOL, metric="test_loss")
    plot_by_rule(ax_loss, loss)
    ax_loss.set(xlabel="step", ylabel="test loss  ½|e|²", yscale="log", title="learning the linear teacher")
    ax_loss.legend()

    angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="hidden1")
    plot_by_rule(ax_angle, angle[angle["rule"] != "backprop"])
    ax_angle.axhline(90, color="0.6", linestyle=":", linewidth=1)
    ax_angle.set(xlabel="step", ylabel="angle to backprop (deg)", ylim=(0, 100), title="hidden-layer update: FA vs BP")

    w = store.metrics(protocol=PROTOCOL, metric="weight_angle", layer="output")
    plot_by_rule(ax_w, w)
    ax_w.axhline(90, color="0.6", linestyle=":", linewidth=1)
    ax_w.set(xlabel="step", ylabel="angle between W and Bᵀ (deg)", ylim=(0, 100), title="forward weights align with B")
    finish(fig, caption="Backprop ends behind FA: from forward weights near 0 its updates start tiny (the saddle at W = 0), "
                        "while FA's hidden layer learns through the fixed, larger B (protocol docstring).")
    return fig
