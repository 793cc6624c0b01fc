"""Grathwohl et al. 2018, Fig. 1 (toy problem E[(b - 0.499)^2]): theta = P(b = 1) and the estimators' log-variance
over training, mean ± s.d. over seeds."""

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread

PROTOCOL = "grathwohl2018_relax"
COLOURS = {"backprop": "#222222", "reinforce": "#b15928", "reinforce (moving average)": "#fdbf6f", "rebar": "#7570b3",
           "relax": "#1b9e77", "relax, learning off": "#999999"}
STYLES = {"backprop": "--", "relax, learning off": ":"}


def make(store):
    fig, (ax_p, ax_v) = plt.subplots(1, 2, figsize=(11, 4.4))
    p = store.metrics(protocol=PROTOCOL, metric="firing_probability")
    for condition, d in p.groupby("condition", sort=False):
        s = mean_and_spread(d)
        label = "exact gradient (backprop)" if condition == "backprop" else condition
        ax_p.plot(s["step"], s["mean"], color=COLOURS.get(condition), ls=STYLES.get(condition, "-"), label=label)
        ax_p.fill_between(s["step"], (s["mean"] - s["std"]).clip(lower=1e-5), s["mean"] + s["std"],
                          color=COLOURS.get(condition), alpha=0.15, lw=0)
    ax_p.set(xlabel="iteration (one sample each)", ylabel="θ = P(b = 1)   (loss gap = 0.002 θ)", yscale="log",
             ylim=(1e-4, 1.0), title="toward the optimum θ → 0 (start θ = 1/2)")
    ax_p.legend(fontsize=7, loc="lower left")
    v = store.metrics(protocol=PROTOCOL, metric="estimate_log_variance")
    for condition, d in v.groupby("condition", sort=False):
        s = mean_and_spread(d)
        ax_v.plot(s["step"], s["mean"], color=COLOURS.get(condition), ls=STYLES.get(condition, "-"), label=condition)
    low = float(v["value"].min()) if len(v) else -20.0
    ax_v.set(xlabel="iteration", ylabel="ln Var(gradient estimate)  (100 draws at the current θ)",
             title="estimator variance along each run (mean over seeds)", ylim=(low - 1, 1.0))
    ax_v.legend(fontsize=7, loc="upper center", ncol=3)  # above the highest curves (REINFORCE's, about -4)
    fig.tight_layout()
    return fig
