"""Copy-task horizon: final test accuracy of every rule against the copy delay D, and the longest
delay each rule learned (final accuracy >= 0.9, mean over seeds)."""

import matplotlib.pyplot as plt

from bioplaus.plotting import rule_style

PROTOCOL = "copy_task_horizon"
THRESHOLD = 0.9


def make(store):
    fig, (ax, ax_h) = plt.subplots(1, 2, figsize=(10, 3.8))
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy")
    if acc.empty:
        for a in (ax, ax_h):
            a.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=a.transAxes, color="0.5")
        return fig
    last = acc[acc["step"] == acc.groupby("run_id")["step"].transform("max")].copy()
    parts = last["condition"].str.extract(r"^(?P<config>.*) D=(?P<delay>\d+)$")
    last["config"], last["delay"] = parts["config"], parts["delay"].astype(int)
    mean = last.groupby(["config", "delay"]).value.mean().reset_index()
    configs = list(dict.fromkeys(last["config"]))
    horizons = []
    for config in configs:
        d = mean[mean["config"] == config].sort_values("delay")
        rule = last[last["config"] == config]["rule"].iloc[0]
        style = "--" if config.startswith("lstm") else "-"
        ax.plot(d["delay"], d["value"], style, marker="o", color=rule_style(rule)[1], label=config)
        learned = d[d["value"] >= THRESHOLD]["delay"]
        horizons.append((config, rule, int(learned.max()) if len(learned) else 0))
    ax.axhline(THRESHOLD, color="0.6", linestyle=":", linewidth=1)
    ax.axhline(0.25, color="0.8", linestyle=":", linewidth=1)
    ax.set(xscale="log", xlabel="copy delay D", ylabel="final test accuracy", ylim=(0, 1.05), title="copy memory, 2 of 4 symbols")
    ax.legend(fontsize=6, ncol=2)
    y = range(len(horizons))
    ax_h.barh(list(y), [h for _, _, h in horizons], color=[rule_style(r)[1] or "0.5" for _, r, _ in horizons])
    ax_h.set_yticks(list(y), [c for c, _, _ in horizons], fontsize=7)
    ax_h.invert_yaxis()
    ax_h.set(xlabel=f"longest delay learned (accuracy ≥ {THRESHOLD})", title="horizon per rule")
    fig.tight_layout()
    return fig
