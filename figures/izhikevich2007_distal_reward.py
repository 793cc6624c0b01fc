"""Izhikevich 2007, Fig. 1: the reinforced synapse grows to the maximum, the other excitatory
synapses stay low; network rate and rewards over time."""

import matplotlib.pyplot as plt
import numpy as np

from bioplaus.plotting import mean_and_spread

PROTOCOL = "izhikevich2007_distal_reward"


def make(store):
    fig, (ax_w, ax_rate, ax_hist) = plt.subplots(1, 3, figsize=(11, 3.3))
    df = store.metrics(protocol=PROTOCOL, metric=["reinforced_weight", "mean_weight", "rate_hz", "reward"])
    for metric, label, color in (("reinforced_weight", "reinforced synapse", "#d62728"), ("mean_weight", "mean of the others", "#1f77b4")):
        d = df[df["metric"] == metric]
        if d.empty:
            continue
        for _, run in d.groupby("run_id"):
            ax_w.plot(run["epoch"], run["value"], color=color, alpha=0.25, linewidth=0.8)
        s = mean_and_spread(d, x="epoch")
        ax_w.plot(s["epoch"], s["mean"], color=color, label=f"{label} (n={int(s['n'].max())})")
    ax_w.axhline(4.0, color="0.6", linestyle=":", linewidth=1)
    ax_w.set(xlabel="biological time (s)", ylabel="weight (mV)", ylim=(-0.1, 4.3), title="distal reward: chosen synapse")
    ax_w.legend(fontsize=7)

    rate = df[df["metric"] == "rate_hz"]
    if not rate.empty:
        s = mean_and_spread(rate, x="epoch")
        ax_rate.plot(s["epoch"], s["mean"], color="0.2", label="mean rate (Hz)")
        rewards = df[df["metric"] == "reward"]
        r = mean_and_spread(rewards, x="epoch")
        ax_rate.bar(r["epoch"], r["mean"], width=np.diff(r["epoch"]).min() if len(r) > 1 else 1.0, color="#2ca02c", alpha=0.5,
                    label="rewards per record")
        ax_rate.legend(fontsize=7)
    ax_rate.set(xlabel="biological time (s)", ylabel="Hz  /  rewards", title="network rate and rewards")

    runs = store.runs(PROTOCOL)
    runs = runs[runs["status"] == "done"]
    if len(runs):
        arrays = store.arrays(int(runs["id"].iloc[0]))
        w = arrays["weights"][-1]
        ax_hist.hist(w[1:], bins=np.linspace(0, 4, 41), color="#1f77b4", alpha=0.8, label="other synapses")
        ax_hist.axvline(w[0], color="#d62728", label=f"reinforced: {w[0]:.2f}")
        ax_hist.set_yscale("log")
        ax_hist.legend(fontsize=7)
        ax_hist.set(title=f"weights at {arrays['weights_time_s'][-1]:.0f} s (seed {int(runs['seed'].iloc[0])})")
    ax_hist.set(xlabel="weight (mV)", ylabel="synapses")
    fig.tight_layout()
    return fig
