"""Policy-gradient estimators against the exact policy gradient: the angle of the mean of m estimates to dJ/dtheta
(unbiased: falls like 1/sqrt(m); biased: levels off; the shuffled-returns control, dotted: the angle of noise) and
the estimator variance, against m. With a zero critic,
actor-critic with lambda = 1 is REINFORCE (gamma^t) exactly, so its curve lies on REINFORCE's (drawn wide)."""

import matplotlib.pyplot as plt

from bioplaus.plotting import mean_and_spread

PROTOCOL = "policy_gradient_alignment"


def make(store):
    fig, (ax_bias, ax_var) = plt.subplots(1, 2, figsize=(10, 4.4))
    for metric, ax in (("estimate_bias_angle", ax_bias), ("estimate_variance", ax_var)):
        df = store.metrics(protocol=PROTOCOL, metric=metric)
        for condition, d in df.groupby("condition", sort=False):
            s = mean_and_spread(d)
            ls = "--" if "without" in condition or condition.endswith("λ=0") else ":" if "control" in condition else "-"
            wide = dict(lw=5, alpha=0.35) if condition == "REINFORCE (γ^t)" else {}  # actor-critic λ=1 with a zero critic is identical
            ax.plot(s["step"], s["mean"], marker=".", ls=ls, label=condition, **wide)
        ax.set_xscale("log")
    ax_bias.set(xlabel="episodes averaged (m)", ylabel="angle of the mean to dJ/dθ (deg)", ylim=(0, 130),
                title="bias: dashed = biased estimators")
    ax_var.set(xlabel="episodes averaged (m)", ylabel="tr Cov / |dJ/dθ|²", yscale="log", title="estimator variance")
    handles, labels = ax_bias.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.legend(handles, labels, fontsize=7, ncol=4, loc="lower center", frameon=False)  # below the axes: no data hidden
    return fig
