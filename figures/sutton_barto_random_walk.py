"""Sutton & Barto (2018), Figs. 12.3, 12.6 and 12.8: RMS error on the 19-state walk, averaged over the first 10
episodes and the learners, against the step size alpha, one line per lambda, one panel per algorithm."""

import re

import matplotlib.pyplot as plt
import numpy as np

PROTOCOL = "sutton_barto_random_walk"
PANELS = (("lambda-return", "off-line λ-return (Fig. 12.3)"), ("TD(λ)", "TD(λ), accumulating traces (Fig. 12.6)"),
          ("true online", "true online TD(λ) (Fig. 12.8)"))
TOP = 0.6  # the book's plots stop near 0.55; higher errors (and runs that blew up) are drawn at the top edge


def make(store):
    df = store.metrics(protocol=PROTOCOL, metric="value_rms")
    df = df[df.step >= 1]  # the error at the end of episodes 1..10
    per_run = df.groupby(["condition", "seed"]).value.mean().groupby("condition").mean()
    blew_up = set(df[df.status == "diverged"].condition)
    off = per_run.get("learning off")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), sharey=True)
    for ax, (prefix, title) in zip(axes, PANELS):
        rows = []
        for condition, value in per_run.items():
            m = re.fullmatch(re.escape(prefix) + r" λ=([0-9.]+) α=([0-9.]+)", condition)
            if m:
                rows.append((float(m.group(1)), float(m.group(2)), TOP if condition in blew_up else min(value, TOP)))
        for lam in sorted({r[0] for r in rows}):
            pts = sorted((a, v) for l, a, v in rows if l == lam)
            ax.plot([a for a, _ in pts], [v for _, v in pts], marker="o", ms=3, label=f"λ = {lam:g}")
        if off is not None:
            ax.axhline(off, color="0.5", ls="--", lw=1, label="learning off")
        ax.set(title=title, xlabel="step size α", ylim=(0.15, TOP + 0.02), xlim=(0, 1.02))
        ax.set_yticks(np.arange(0.2, TOP + 0.01, 0.1))
    axes[0].text(0.02, TOP - 0.005, f"drawn at {TOP}: above it, or blew up", fontsize=7, va="top", color="0.4")
    axes[0].set_ylabel("RMS error, first 10 episodes\n(19 states, mean over learners)")
    handles, labels = axes[-1].get_legend_handles_labels()  # below the panels: inside, it covered the large-α curves
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    return fig
