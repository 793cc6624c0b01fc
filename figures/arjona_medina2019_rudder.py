"""RUDDER (Arjona-Medina et al. 2019): episodes to reach an expected return of 0.9 against the reward's delay for TD,
Monte Carlo and RUDDER, and the learning curves at the longest delay run."""

import re

import matplotlib.pyplot as plt

PROTOCOL = "arjona_medina2019_rudder"
THRESHOLD = 0.9
COLOURS = {"TD": "#1f77b4", "MC": "#d62728", "RUDDER": "#e377c2"}


def make(store):
    df = store.metrics(protocol=PROTOCOL, metric="expected_return")
    curves = df.groupby(["condition", "step"]).value.mean().reset_index()
    horizon = int(df.step.max())
    found: dict[str, list[tuple[int, int | None]]] = {}
    for condition, d in curves.groupby("condition"):
        method, delay = re.fullmatch(r"(\w+) delay=(\d+)", condition).groups()
        hit = d[d.value >= THRESHOLD].step
        found.setdefault(method, []).append((int(delay), int(hit.min()) if len(hit) else None))
    fig, (ax_n, ax_c) = plt.subplots(1, 2, figsize=(10, 3.6))
    for method, pts in found.items():
        pts.sort()
        ax_n.plot([d for d, _ in pts], [h if h is not None else horizon * 1.15 for _, h in pts], marker="o",
                  color=COLOURS.get(method), label=method)
        for d, h in pts:
            if h is None:
                ax_n.annotate("not reached", (d, horizon * 1.15), fontsize=6, ha="center", va="bottom", color=COLOURS.get(method))
    ax_n.axhline(horizon, color="0.6", ls=":", lw=1)
    ax_n.set(xscale="log", xlabel="reward delay (steps)", ylabel=f"episodes to expected return {THRESHOLD}",
             title=f"learning time against delay (run stops at {horizon})")
    delays = sorted({d for pts in found.values() for d, _ in pts})
    ax_n.set_xticks(delays, [str(d) for d in delays])
    ax_n.minorticks_off()
    ax_n.legend(fontsize=7)
    longest = max(d for pts in found.values() for d, _ in pts)
    for method in found:
        d = curves[curves.condition == f"{method} delay={longest}"]
        ax_c.plot(d.step, d.value, color=COLOURS.get(method), label=method)
    ax_c.axhline(THRESHOLD, color="0.6", ls=":", lw=1)
    ax_c.set(xlabel="episodes", ylabel="expected return (exact)", title=f"delay {longest}: mean over learners", ylim=(0.4, 1.02))
    ax_c.legend(fontsize=7)
    fig.tight_layout()
    return fig
