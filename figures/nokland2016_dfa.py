"""Nøkland 2016: test error of backprop, DFA and the two baselines (read-out only; a linear model, backprop's
colour dashed) on a 1x800 tanh network (MNIST-1D by default, MNIST with --data-dir), over training and at the
end, beside the published MNIST errors that could be found."""

import json

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from bioplaus.plotting import condition_styles, plot_by_rule

PROTOCOL = "nokland2016_dfa"
CONDITIONS = ("backprop", "direct_feedback_alignment", "shallow", "linear")
# (condition, test error in %, source): the only published numbers found (see protocols/nokland2016_dfa.py)
PUBLISHED = [
    ("direct_feedback_alignment", 1.45, "Nøkland 2016, abstract"),
    ("backprop", 2.4, "Lillicrap et al. 2016, Fig. 2a"),
    ("shallow", 7.2, "Lillicrap et al. 2016, Fig. 2a"),
]


def data_name(store) -> str:
    runs = store.runs(PROTOCOL)
    names = {json.loads(c)["task"]["task"] for c in runs["config"]} if len(runs) else set()
    if len(names) != 1:
        return "/".join(sorted(names)) or "no runs"
    return {"mnist": "MNIST", "mnist1d": "MNIST-1D (proxy)", "digits": "digits resized to 28x28 (proxy)"}.get(next(iter(names)), "?")


def make(store):
    fig, (ax_curve, ax_bar) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1, 1.15]})
    acc = store.metrics(protocol=PROTOCOL, metric="test_accuracy", layer="all")
    err = acc.assign(value=100 * (1 - acc["value"]))
    plot_by_rule(ax_curve, err)
    # a linear axis: the errors here span less than a decade (MNIST-1D, 30-70 %); MNIST's 1-3 % would fit one too
    ax_curve.set(xlabel="step", ylabel="test error (%)", title=f"1x800 tanh on {data_name(store)}")
    ax_curve.set_ylim(bottom=0)
    if not err.empty:
        ax_curve.legend(loc="best")

    last = err[err["step"] == err.groupby("run_id")["step"].transform("max")] if not err.empty else err
    styles = condition_styles(last) if len(last) else {}
    x = range(len(CONDITIONS))
    for i, condition in enumerate(CONDITIONS):
        v = last[last["condition"] == condition]["value"]
        if len(v):
            ax_bar.bar(i - 0.2, v.mean(), width=0.38, yerr=v.std(ddof=0) if len(v) > 1 else None, capsize=4,
                       color=styles[condition][1] or "0.5", hatch="xx" if condition == "linear" else None)
            top = v.mean() + (v.std(ddof=0) if len(v) > 1 else 0.0)
            ax_bar.text(i - 0.2, top * 1.01, f"{v.mean():.2f}", ha="center", va="bottom", fontsize=8)
    labelled = set()
    for condition, value, source in PUBLISHED:
        i = CONDITIONS.index(condition)
        nokland = source.startswith("Nøkland")
        label = ("published: Nøkland 2016, abstract (MNIST, with dropout)" if nokland else
                 "published: Lillicrap et al. 2016 (MNIST, 784-1000-10 logistic, another network)")
        edge = styles.get(condition, ("", "0.5"))[1] or "0.5"
        ax_bar.bar(i + 0.2, value, width=0.38, color="white", edgecolor=edge, hatch="//" if nokland else "..",
                   label=None if label in labelled else label)
        labelled.add(label)
        ax_bar.text(i + 0.2, value, f"{value:g}", ha="center", va="bottom", fontsize=8)
    ax_bar.set_xticks(list(x), [styles[c][0] if c in styles else c for c in CONDITIONS])
    ax_bar.set(ylabel="final test error (%)", title="final test error; Nøkland's per-network table not retrieved")
    handles, labels = ax_bar.get_legend_handles_labels()
    handles.insert(0, Patch(color="0.45"))
    labels.insert(0, f"measured here, last step (mean ± s.d. over {last['seed'].nunique() if len(last) else 0} seed(s))")
    ax_bar.legend(handles, labels, loc="upper center", fontsize=7.5, bbox_to_anchor=(0.5, -0.1), ncol=1, frameon=False)
    fig.tight_layout()
    return fig
