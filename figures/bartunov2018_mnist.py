"""Bartunov et al. 2018, Table 1(a): measured and published test errors side by side, the update angle to
backprop over training, and the target-propagation diagnostics (target angle, inverse reconstruction error)."""

import json

import matplotlib.pyplot as plt

PROTOCOL = "bartunov2018_mnist"
# (condition, label, colour, line style); published test error % from Table 1(a) (PUBLISHED.md), None for the baseline
CONDITIONS = [
    ("backprop", "backprop", "#222222", "-", 1.48),
    ("feedback_alignment", "FA", "#d62728", "-", 1.85),
    ("direct_feedback_alignment", "DFA", "#1f77b4", "-", 2.75),
    ("dtp_parallel", "DTP par.", "#e377c2", "-", 2.86),
    ("dtp_alternating", "DTP alt.", "#e377c2", "--", 1.83),
    ("sdtp_parallel", "SDTP par.", "#8c564b", "-", 3.52),
    ("sdtp_alternating", "SDTP alt.", "#8c564b", "--", 2.28),
    ("ao_sdtp_parallel", "AO-SDTP par.", "#ff7f0e", "-", 2.93),
    ("ao_sdtp_alternating", "AO-SDTP alt.", "#ff7f0e", "--", 1.86),
    ("shallow", "read-out only", "#7f7f7f", "-", None),
    ("linear", "linear", "#bcbd22", "-", None),
]
TP = [c for c in CONDITIONS if "dtp" in c[0]]


def data_name(store) -> str:
    runs = store.runs(PROTOCOL)
    names = {json.loads(c)["task"]["task"] for c in runs["config"]} if len(runs) else set()
    return {"mnist": "MNIST", "mnist1d": "MNIST-1D (proxy)", "digits": "digits 28x28 (proxy)"}.get(next(iter(names)), "?") if len(names) == 1 else "no runs"


def last_step(df):
    return df[df["step"] == df.groupby("run_id")["step"].transform("max")] if not df.empty else df


def make(store):
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (ax_err, ax_angle), (ax_target, ax_recon) = axes

    acc = last_step(store.metrics(protocol=PROTOCOL, metric="test_accuracy", layer="all"))
    seeds = acc["seed"].nunique() if len(acc) else 0
    for i, (cond, label, colour, _, published) in enumerate(CONDITIONS):
        err = 100 * (1 - acc[acc["condition"] == cond]["value"])
        if len(err):
            ax_err.bar(i - 0.2, err.mean(), width=0.38, color=colour, yerr=err.std(ddof=0) if len(err) > 1 else None, capsize=3,
                       label=f"measured, {data_name(store)}, last step (n={seeds})" if i == 0 else None)
            ax_err.text(i - 0.2, err.mean(), f"{err.mean():.1f}", ha="center", va="bottom", fontsize=7)
        if published is not None:
            ax_err.bar(i + 0.2, published, width=0.38, color="white", edgecolor=colour, hatch="//",
                       label="published, MNIST (Table 1(a), best of 60 draws)" if i == 0 else None)
            ax_err.text(i + 0.2, published, f"{published:g}", ha="center", va="bottom", fontsize=7)
    ax_err.set_xticks(range(len(CONDITIONS)), [c[1] for c in CONDITIONS], rotation=45, ha="right")
    ax_err.set(ylabel="test error (%)", yscale="log", title="input-5x256-10 tanh: test error", ylim=(1, 1000))
    ax_err.legend(fontsize=7, loc="upper left", ncol=2)  # above the bars: errors stay under 100 %

    angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="all")
    for cond, label, colour, style, _ in CONDITIONS:
        d = angle[angle["condition"] == cond].groupby("step")["value"].mean()
        if len(d) and cond not in ("backprop", "linear"):  # both are backprop: angle 0
            ax_angle.plot(d.index, d.values, color=colour, linestyle=style, label=label)
    ax_angle.set(xlabel="step", ylabel="update angle to backprop, all layers (deg)", ylim=(0, 95),
                 title="angle between each rule's update and backprop's")
    ax_angle.legend(fontsize=7, ncol=2)

    for metric, ax, ylabel in (("target_angle", ax_target, "angle(target - h, -dL/dh) (deg)"),
                               ("reconstruction_error", ax_recon, "|g(f(h)) - h|^2 / |h|^2")):
        df = last_step(store.metrics(protocol=PROTOCOL, metric=metric))
        df = df[df["layer"] != "all"]
        for cond, label, colour, style, _ in TP:
            d = df[df["condition"] == cond].groupby("layer", sort=False)["value"].mean()
            if len(d):
                ax.plot(range(len(d)), d.values, color=colour, linestyle=style, marker="o", label=label)
                ax.set_xticks(range(len(d)), list(d.index))
        ax.set(xlabel="layer", ylabel=ylabel)
        ax.legend(fontsize=7)
    ax_target.set(title="target direction vs. the negative gradient (last step)", ylim=(-2, 95))
    ax_recon.set(title="inverse's reconstruction error (last step)", yscale="log")
    fig.tight_layout()
    return fig
