"""Song, Miller & Abbott 2000, Figs. 1-2: with additive STDP the weights go to the bounds
(bimodal) and the output rate is regulated; multiplicative STDP stays unimodal."""

import json

import matplotlib.pyplot as plt
import numpy as np

from bioplaus.plotting import mean_and_spread

PROTOCOL = "song2000_stdp"


def make(store):
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.3))
    ax_frac, ax_rate, ax_hist, ax_io = axes
    frac = store.metrics(protocol=PROTOCOL, metric=["fraction_near_max", "fraction_near_zero"])
    colors = {c: f"C{i}" for i, c in enumerate(dict.fromkeys(store.runs(PROTOCOL)["condition"]))}
    for (condition, metric), d in frac.groupby(["condition", "metric"], sort=False):
        s = mean_and_spread(d, x="epoch")
        near = "near 0" if metric.endswith("zero") else "near max"
        ax_frac.plot(s["epoch"], s["mean"], color=colors[condition], linestyle="-" if near == "near 0" else "--",
                     label=f"{condition} {near} (n={int(s['n'].max())})")
    ax_frac.set(xlabel="biological time (s)", ylabel="fraction of weights", ylim=(0, 1),
                title="weights within 10 % of a bound")
    ax_frac.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)  # below: inside it covered the curves

    rate = store.metrics(protocol=PROTOCOL, metric="output_rate_hz")
    for condition, d in rate.groupby("condition", sort=False):
        s = mean_and_spread(d, x="epoch")
        ax_rate.plot(s["epoch"], s["mean"], color=colors[condition], label=condition)
    ax_rate.set(xlabel="biological time (s)", ylabel="output rate (Hz)", title="postsynaptic rate")
    ax_rate.legend(fontsize=6)

    runs = store.runs(PROTOCOL)
    runs = runs[runs["status"] == "done"]
    bins = np.linspace(0, 1, 21)
    for condition, r in runs.groupby("condition", sort=False):
        w = store.arrays(int(r["id"].iloc[0]))["weights"][-1]
        ax_hist.hist(w, bins=bins, histtype="step", label=condition, linewidth=1.2, color=colors[condition])
    ax_hist.set(xlabel="weight / g_max (end of run, seed %s)" % (runs["seed"].min() if len(runs) else "-"),
                ylabel="synapses", title="weight distribution")
    if len(runs):
        ax_hist.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)

    if not rate.empty:
        last = rate[rate["step"] == rate.groupby("run_id")["step"].transform("max")]
        configs = {int(r.id): json.loads(r.config) for r in runs.itertuples()}
        last = last.assign(input_rate=[configs[int(i)]["rule"].get("task_settings", {}).get("input_rate_hz", configs[int(i)]["task"]["input_rate_hz"])
                                       for i in last["run_id"]])
        for rule, d in last.groupby("rule", sort=False):
            g = d.groupby("input_rate")["value"]
            ax_io.errorbar(g.mean().index, g.mean().values, yerr=g.std(ddof=0).fillna(0).values, marker="o", label=rule)
        ax_io.legend(fontsize=6)
    ax_io.set(xlabel="input rate (Hz)", ylabel="output rate, last record (Hz)", title="rate regulation")
    fig.tight_layout()
    return fig
