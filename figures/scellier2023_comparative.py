"""Nine learning algorithms on one Hopfield network, each at its own selected step size, beside a
read-out-only net and a linear model: final test error and update angle to the implicit gradient, in
the order Scellier et al. 2023 list them; the data (MNIST-1D, MNIST for runs made with --data-dir, the
8x8 digits for runs stored before) and network are read from the stored run configs."""

import json

import matplotlib.pyplot as plt
import numpy as np

from bioplaus.plotting import finish

PROTOCOL = "scellier2023_comparative"
ORDER = ["PEP", "NEP", "CEP", "PCpL", "NCpL", "CCpL", "CL", "TBP", "RBP", "readout_only", "linear"]
COLORS = {"PEP": "tab:blue", "NEP": "tab:blue", "CEP": "tab:blue", "PCpL": "tab:orange", "NCpL": "tab:orange",
          "CCpL": "tab:orange", "CL": "tab:green", "TBP": "0.3", "RBP": "black", "readout_only": "0.75", "linear": "0.75"}
SHORT = {"readout_only": "read-out only", "linear": "linear"}
DATA = {"digits": "8x8 digits", "mnist": "MNIST", "mnist1d": "MNIST-1D"}


def bars(ax, values: dict[str, list[float]], ylabel: str):
    names = [n for n in ORDER if n in values]
    if not names:
        ax.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax.transAxes, color="0.5")
        return
    means = [np.mean(values[n]) for n in names]
    sds = [np.std(values[n]) for n in names]
    ax.bar([SHORT.get(n, n) for n in names], means, yerr=sds, color=[COLORS[n] for n in names], alpha=0.85, capsize=3)
    ax.tick_params(axis="x", labelsize=8, labelrotation=45)
    for i, n in enumerate(names):
        ax.plot([i] * len(values[n]), values[n], "k.", markersize=3)
    ax.set(ylabel=ylabel)


def make(store):
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6))
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy")
    final = acc[acc["step"] == acc.groupby("run_id")["step"].transform("max")] if not acc.empty else acc
    bars(axes[0], {c: list(100 * (1 - d["value"])) for c, d in final.groupby("condition")}, "final test error (%)")
    used = sorted({(c["task"]["task"], "-".join(map(str, c["model"]["sizes"])), c["model"]["activation"].replace("_", " "))
                   for c in map(json.loads, store.runs(PROTOCOL)["config"]) if c["condition"] not in SHORT})
    axes[0].set(title="; ".join(f"{DATA.get(t, t)}, {n} {a}" for t, n, a in used))

    ang = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="all")
    ang = ang[(ang["step"] > 0) & ~ang["condition"].isin(list(SHORT))]
    bars(axes[1], {c: list(d.groupby("seed")["value"].mean()) for c, d in ang.groupby("condition")},
         "mean update angle to implicit gradient (deg)")
    axes[1].set(title="update angle during training")

    for cond, d in acc.groupby("condition"):
        m = d.groupby("step")["value"].mean()
        axes[2].plot(m.index, 100 * (1 - m.values), color=COLORS.get(cond, "0.5"),
                     linestyle="--" if cond.startswith("N") or cond == "linear" else ":" if cond.startswith("C") and cond != "CL" else "-",
                     label=cond)
    axes[2].set(xlabel="step", ylabel="test error (%)", title="test error over training")
    finish(fig, legend_from=axes[2], ncol=11,
           caption="Scellier et al. 2023 (ConvNets on harder tasks): CEP best, NEP beats PEP, NCpL beats PCpL; on MNIST all are "
                   "comparable. MNIST-1D stands in for the harder tasks; every condition runs at its own step size (NAME.tuned.json).")
    return fig
