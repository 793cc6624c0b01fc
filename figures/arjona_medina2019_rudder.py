"""RUDDER (Arjona-Medina et al. 2019): episodes to reach an expected return of 0.9 against the reward's delay for TD
(Q-learning), Monte Carlo control and RUDDER (log y, as the paper's learning-time plots), and the learning curves at
the longest delay run, with the learning-off control."""

import re

import matplotlib.pyplot as plt

PROTOCOL = "arjona_medina2019_rudder"
THRESHOLD = 0.9
COLOURS = {"TD": "#1f77b4", "MC": "#d62728", "RUDDER": "#e377c2", "off": "0.5"}
NAMES = {"TD": "TD (Q-learning)", "MC": "MC control", "RUDDER": "RUDDER + Q-learning", "off": "learning off"}


def make(store):
    df = store.metrics(protocol=PROTOCOL, metric="expected_return")
    curves = df.groupby(["condition", "step"]).value.mean().reset_index()
    horizon = int(df.step.max())
    found: dict[str, list[tuple[int, int | None]]] = {}
    for condition, d in curves.groupby("condition"):
        method, delay = re.fullmatch(r"(\w+) delay=(\d+)", condition).groups()
        hit = d[d.value >= THRESHOLD].step
        found.setdefault(method, []).append((int(delay), max(int(hit.min()), 1) if len(hit) else None))
    fig, (ax_n, ax_c) = plt.subplots(1, 2, figsize=(10, 3.8))
    above = horizon * 1.6  # where "not reached" is drawn, above the run's length
    for method, pts in found.items():
        if method == "off":
            continue
        pts.sort()
        colour = COLOURS.get(method)
        ax_n.plot([d for d, _ in pts], [h if h is not None else above for _, h in pts], color=colour, label=NAMES.get(method, method))
        ax_n.plot([d for d, h in pts if h is not None], [h for _, h in pts if h is not None], "o", color=colour)
        ax_n.plot([d for d, h in pts if h is None], [above for _, h in pts if h is None], "^", ms=9, mfc="white", color=colour)
    ax_n.axhline(horizon, color="0.6", ls=":", lw=1)
    ax_n.text(0.02, horizon, f"run length {horizon}; open triangles: not reached", fontsize=7, va="bottom",
              transform=ax_n.get_yaxis_transform(), color="0.35")
    delays = sorted({d for pts in found.values() for d, _ in pts})
    ax_n.set(xscale="log", yscale="log", xlabel="reward delay (steps)", ylabel=f"episodes to expected return {THRESHOLD}",
             title="learning time against delay", ylim=(5, above * 2.5))
    ax_n.set_xticks(delays, [str(d) for d in delays])
    ax_n.minorticks_off()
    ax_n.legend(fontsize=7, loc="lower right")
    longest = max(delays)
    for method in found:
        d = curves[curves.condition == f"{method} delay={longest}"]
        if len(d):
            ax_c.plot(d.step, d.value, color=COLOURS.get(method), label=NAMES.get(method, method))
    ax_c.axhline(THRESHOLD, color="0.6", ls=":", lw=1)
    ax_c.set(xlabel="episodes", ylabel="expected return (exact)", title=f"delay {longest}: mean over 32 learners",
             ylim=(0.0, 1.02))
    ax_c.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
