"""Schultz, Dayan & Montague (1997), in the paper's style: the TD error ("dopamine") by time within the trial,
early and late in training, a late probe trial with the reward omitted, and the responses at cue and reward
over training for TD(0), TD(lambda) and learning off."""

import matplotlib.pyplot as plt

PROTOCOL = "schultz1997_dopamine"
CUE, REWARD = 5, 15  # the protocol's trial: cue at step 5 (its onset is the step 4 -> 5), reward at step 15
TRIALS = (0, 30, 60, 200)


def profile(df, condition, step):
    d = df[(df.condition == condition) & (df.step == step)]
    d = d.assign(t=d.layer.str[1:].astype(int)).sort_values("t")
    return d.t, d.value


def make(store):
    td = store.metrics(protocol=PROTOCOL, metric="td_error")
    omitted = store.metrics(protocol=PROTOCOL, metric="td_error_omitted")
    last = int(td.step.max())
    fig, (ax_a, ax_b, ax_c) = plt.subplots(1, 3, figsize=(12, 3.4))
    for i, trial in enumerate(t for t in TRIALS if t <= last):
        t, v = profile(td, "TD(0)", trial)
        ax_a.step(t + 1, v + 1.2 * i, where="pre", color="k")  # the error of step t, drawn over [t, t+1]
        ax_a.text(-0.5, 1.2 * i + 0.15, f"trial {trial}", fontsize=7)
    ax_a.set(title="TD(0): error by time, early to late", xlabel="time step in trial", yticks=[])
    for ax in (ax_a, ax_b):
        ax.axvline(CUE, color="tab:blue", lw=0.8, ls=":")
        ax.axvline(REWARD + 1, color="tab:red", lw=0.8, ls=":")
    ax_a.text(CUE, -0.45, "cue", color="tab:blue", fontsize=7, ha="center")
    ax_a.text(REWARD + 1, -0.45, "reward", color="tab:red", fontsize=7, ha="center")
    t, v = profile(td, "TD(0)", last)
    ax_b.step(t + 1, v, where="pre", color="k", label="reward given")
    t, v = profile(omitted, "TD(0)", last)
    ax_b.step(t + 1, v, where="pre", color="tab:red", ls="--", label="reward omitted")
    ax_b.set(title=f"after {last} trials: probe trial", xlabel="time step in trial", ylabel="TD error δ", ylim=(-1.3, 1.3))
    ax_b.legend(fontsize=7, loc="lower left")
    for condition, colour in (("TD(0)", "k"), ("TD(λ=0.9)", "tab:green"), ("learning off", "0.6")):
        for layer, ls, what in ((f"s{CUE - 1:03d}", "-", "at cue"), (f"s{REWARD:03d}", "--", "at reward")):
            d = td[(td.condition == condition) & (td.layer == layer)].sort_values("step")
            ax_c.plot(d.step, d.value, color=colour, ls=ls, label=f"{condition}, {what}")
    ax_c.set(title="response at cue and at reward", xlabel="trial", ylabel="TD error δ")
    ax_c.legend(fontsize=6)
    fig.tight_layout()
    return fig
