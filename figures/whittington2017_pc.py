"""Whittington & Bogacz 2017 / Song et al. 2020: predictive coding's update angle to backprop against inference
steps and output precision, Z-IL's (rounding level), and test accuracy against backprop and the shallow baseline."""

import re

import matplotlib.pyplot as plt

PROTOCOL = "whittington2017_pc"
PC = re.compile(r"pc_T(\d+)_beta([0-9.e-]+)")


def last_step(df):
    return df[df["step"] == df.groupby("run_id")["step"].transform("max")] if not df.empty else df


def make(store):
    fig, (ax_curve, ax_beta, ax_acc) = plt.subplots(1, 3, figsize=(15, 4.6))
    angle = store.metrics(protocol=PROTOCOL, metric="update_angle", layer="all")
    conditions = list(dict.fromkeys(angle["condition"])) if len(angle) else []
    cmap = plt.get_cmap("viridis")
    pcs = [c for c in conditions if PC.fullmatch(c)]
    colour = {c: cmap(i / max(len(pcs) - 1, 1)) for i, c in enumerate(pcs)}
    colour.update({"zero_divergence_inference_learning": "#bcbd22", "shallow": "#7f7f7f", "linear": "#8c564b", "backprop": "#222222"})
    for cond in conditions:
        if cond in ("backprop", "linear"):  # both trained by backprop: angle 0
            continue
        d = angle[angle["condition"] == cond].groupby("step")["value"].mean()
        m = PC.fullmatch(cond)
        label = f"PC, T={m.group(1)}, beta={m.group(2)}" if m else {"zero_divergence_inference_learning": "Z-IL"}.get(cond, cond)
        ax_curve.plot(d.index, d.clip(lower=1e-16).values, color=colour.get(cond), label=label)
    ax_curve.set(xlabel="step", ylabel="update angle to backprop, all layers (deg)", yscale="log",
                 title="angle to backprop over training (MNIST-1D, 40-256-256-10 tanh)")
    ax_curve.legend(fontsize=7)

    last = last_step(angle)
    rows = [(int(m.group(1)), float(m.group(2)), g["value"].mean()) for c, g in last.groupby("condition") if (m := PC.fullmatch(c))]
    for steps in sorted({r[0] for r in rows}):
        pts = sorted((b, v) for t, b, v in rows if t == steps)
        ax_beta.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"PC, {steps} inference steps")
    zil = last[last["condition"] == "zero_divergence_inference_learning"]["value"]
    if len(zil):
        ax_beta.axhline(max(zil.mean(), 1e-16), color="#bcbd22", linestyle="--", label=f"Z-IL ({zil.mean():.1e} deg, float64)")
    ax_beta.set(xscale="log", yscale="log", xlabel="output precision beta", ylabel="update angle at the last step (deg)",
                title="PC approaches backprop as beta -> 0")
    ax_beta.legend(fontsize=7)

    acc = last_step(store.metrics(protocol=PROTOCOL, metric="test_accuracy", layer="all"))
    order = [c for c in ["backprop", "zero_divergence_inference_learning", *pcs, "shallow", "linear"] if c in set(acc["condition"])]
    for i, cond in enumerate(order):
        v = acc[acc["condition"] == cond]["value"]
        ax_acc.bar(i, v.mean(), yerr=v.std(ddof=0) if len(v) > 1 else None, color=colour.get(cond), capsize=3)
        ax_acc.text(i, v.mean(), f"{v.mean():.3f}", ha="center", va="bottom", fontsize=7)
    names = [{"zero_divergence_inference_learning": "Z-IL"}.get(c, c.replace("pc_", "PC ")) for c in order]
    ax_acc.set_xticks(range(len(order)), names, rotation=40, ha="right", fontsize=8)
    ax_acc.set(ylabel=f"test accuracy, last step (n={acc['seed'].nunique() if len(acc) else 0})", ylim=(0, 1.05),
               title="test accuracy (no published MNIST numbers found)")
    fig.tight_layout()
    return fig
