"""EP against backprop (implicit gradient, same network) on the 8x8 digits (or MNIST, for runs made
with --data-dir), one hidden layer: test accuracy, update angle to the implicit gradient and
relaxation length. The published MNIST errors of Scellier & Bengio 2017 would be drawn beside the
accuracy; they were not retrieved (see the protocol's docstring), and the caption says so.
``figures/scellier2017_digits_2h.py`` draws the same panels for the two-hidden-layer protocol."""

import json

import matplotlib.pyplot as plt

from bioplaus.plotting import finish, log_steps, plot_by_rule

PROTOCOL = "scellier2017_digits"
CAPTION = ("Scellier & Bengio 2017's MNIST errors: not retrieved. Backprop runs with the layer-wise learning rates "
           "chosen for EP (no search of its own), which may be why it ends behind EP here.")


def data_and_network(store, protocol):
    """``"8x8 digits, 64-256-10 hard sigmoid"`` or ``"MNIST, 784-500-10 ..."``, from the stored run configs."""
    configs = [json.loads(c) for c in store.runs(protocol)["config"]]
    names = {"digits": "8x8 digits", "mnist": "MNIST"}
    found = sorted({(names.get(c["task"]["task"], c["task"]["task"]), "-".join(map(str, c["model"]["sizes"])),
                     c["model"]["activation"].replace("_", " ")) for c in configs})
    return "; ".join(f"{data}, {sizes} {activation}" for data, sizes, activation in found) or protocol


def panels(store, protocol):
    """The figure of one EP-vs-backprop protocol: it reads only ``protocol``'s runs."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.0))
    acc = store.metrics(protocol=protocol, metric="test_accuracy")
    plot_by_rule(axes[0], acc)
    log_steps(axes[0], acc)
    axes[0].set(xlabel="step (symlog)", ylabel="test accuracy", ylim=(0, 1.0), title=data_and_network(store, protocol))
    ang = store.metrics(protocol=protocol, metric="update_angle", layer="all")
    plot_by_rule(axes[1], ang[ang["condition"] != "backprop"])
    axes[1].set(xlabel="step", ylabel="angle to implicit gradient (deg)", ylim=(0, 90), title="update angle, all parameters")
    steps = store.metrics(protocol=protocol, metric="relax_steps", layer="free")
    plot_by_rule(axes[2], steps)
    axes[2].set(xlabel="step", ylabel="steps to tolerance", ylim=(0, None), title="free-phase relaxation length")
    finish(fig, legend_from=axes[0], ncol=3, caption=CAPTION)
    return fig


def make(store):
    return panels(store, PROTOCOL)
