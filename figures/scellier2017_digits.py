"""EP against backprop (implicit gradient, same network) on MNIST-1D (or MNIST, for runs made with
--data-dir; the 8x8 digits for runs stored before), one hidden layer, each condition at its own
selected step size: test accuracy (with the read-out-only and linear baselines), update angle and
update norm ratio to the implicit gradient, and relaxation length. Scellier & Bengio 2017 give their MNIST
errors in words (Sec. 5: 0.00 % training error, test error between 2 and 3 %; per network only in a figure):
the caption quotes them, since a proxy's accuracy is not comparable with them.
``figures/scellier2017_digits_2h.py`` draws the same panels for the two-hidden-layer protocol."""

import json

import matplotlib.pyplot as plt

from bioplaus.plotting import finish, log_steps, plot_by_rule

PROTOCOL = "scellier2017_digits"
CAPTION = ("Scellier & Bengio 2017 (Sec. 5, MNIST): 0.00 % training error, test error between 2 and 3 %. Every condition runs at its own step size, selected on "
           "the validation split (protocols/NAME.tuned.json); read-out only = the same net with its hidden layers frozen.")
BASELINES = ("readout_only", "linear")


def data_and_network(store, protocol):
    """``"8x8 digits, 64-256-10 hard sigmoid"`` or ``"MNIST, 784-500-10 ..."``, from the stored run configs."""
    configs = [json.loads(c) for c in store.runs(protocol)["config"]]
    names = {"digits": "8x8 digits", "mnist": "MNIST", "mnist1d": "MNIST-1D"}
    found = sorted({(names.get(c["task"]["task"], c["task"]["task"]), "-".join(map(str, c["model"]["sizes"])),
                     c["model"]["activation"].replace("_", " ")) for c in configs if c["condition"] not in BASELINES})
    return "; ".join(f"{data}, {sizes} {activation}" for data, sizes, activation in found) or protocol


def panels(store, protocol):
    """The figure of one EP-vs-backprop protocol: it reads only ``protocol``'s runs."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.0))
    acc = store.metrics(protocol=protocol, metric="test_accuracy")
    plot_by_rule(axes[0], acc)
    log_steps(axes[0], acc)
    axes[0].set(xlabel="step (symlog)", ylabel="test accuracy", ylim=(0, 1.0), title=data_and_network(store, protocol))
    ang = store.metrics(protocol=protocol, metric="update_angle", layer="all")
    rules_only = ~ang["condition"].isin(("backprop", *BASELINES))
    plot_by_rule(axes[1], ang[rules_only])
    axes[1].set(xlabel="step", ylabel="angle to implicit gradient (deg)", ylim=(0, 90), title="update angle, all parameters")
    ratio = store.metrics(protocol=protocol, metric="update_norm_ratio", layer="all")
    plot_by_rule(axes[2], ratio[~ratio["condition"].isin(("backprop", *BASELINES))])
    axes[2].axhline(1.0, color="0.6", lw=0.8, ls=":")
    axes[2].set(xlabel="step", ylabel="|estimate| / |implicit gradient|", yscale="log", title="update norm ratio (estimates, before the step size)")
    steps = store.metrics(protocol=protocol, metric="relax_steps", layer="free")
    plot_by_rule(axes[3], steps[~steps["condition"].isin(BASELINES)])
    axes[3].set(xlabel="step", ylabel="steps to tolerance", ylim=(0, None), title="free-phase relaxation length")
    finish(fig, legend_from=axes[0], ncol=3, caption=CAPTION)
    return fig


def make(store):
    return panels(store, PROTOCOL)
