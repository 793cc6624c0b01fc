"""Figure helpers: the shipped style, rendering a figure script, and mean-and-spread curves.

A figure script defines ``make(store) -> matplotlib.figure.Figure`` and only reads the
store. :func:`render` calls it under the bioplaus style and writes PDF and PNG.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bioplaus.errors import BioplausError  # noqa: E402

STYLE = Path(__file__).with_name("style") / "bioplaus.mplstyle"

#: Colours per rule, so every figure shows one rule in one colour.
RULE_COLORS = {
    "backprop": "#222222",
    "feedback_alignment": "#d62728",
    "direct_feedback_alignment": "#1f77b4",
    "shallow": "#7f7f7f",
    "sign_symmetry_usf": "#2ca02c",
    "sign_symmetry_brsf": "#98df8a",
    "sign_symmetry_frsf": "#17becf",
    "kolen_pollack": "#9467bd",
    "weight_mirror": "#ff7f0e",
    "bptt": "#222222",
    "rtrl": "#8c564b",
    "truncated_bptt": "#ff7f0e",
    "uoro": "#2ca02c",
    "kf_rtrl": "#9467bd",
    "reinforce_rtrl": "#e377c2",
    "eprop": "#17becf",
    "rflo": "#bcbd22",
    "synthetic_gradients": "#d62728",
    "sparse_attentive_backtracking": "#393b79",
}

RULE_LABELS = {
    "backprop": "backprop",
    "feedback_alignment": "feedback alignment",
    "direct_feedback_alignment": "direct feedback alignment",
    "shallow": "shallow",
    "sign_symmetry_usf": "sign symmetry (uSF)",
    "sign_symmetry_brsf": "sign symmetry (brSF)",
    "sign_symmetry_frsf": "sign symmetry (frSF)",
    "kolen_pollack": "Kolen-Pollack",
    "weight_mirror": "weight mirror",
    "bptt": "BPTT",
    "rtrl": "RTRL",
    "truncated_bptt": "truncated BPTT",
    "uoro": "UORO",
    "kf_rtrl": "KF-RTRL",
    "reinforce_rtrl": "REINFORCE-as-RTRL",
    "eprop": "e-prop",
    "rflo": "RFLO",
    "synthetic_gradients": "synthetic gradients",
    "sparse_attentive_backtracking": "SAB",
}


def figure_for(protocol_source: str | None) -> Path | None:
    """The figure script shipped with a protocol script: ``../figures/<same name>.py``."""
    if not protocol_source:
        return None
    src = Path(protocol_source)
    candidate = src.parent.parent / "figures" / src.name
    return candidate if candidate.is_file() else None


def load_figure_script(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise BioplausError(f"{path}: figure script not found.")
    name = f"bioplaus_figure_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise BioplausError(f"{path}: cannot load as a Python script.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise BioplausError(f"{path}: the figure script failed while loading: {type(e).__name__}: {e}") from e
    if not callable(getattr(module, "make", None)):
        raise BioplausError(f"{path}: a figure script must define make(store) -> matplotlib Figure.")
    return module


def render(script: str | Path, store, out_dir: str | Path, module=None) -> tuple[Path, Path]:
    """Run ``script``'s ``make(store)`` under the bioplaus style; write ``out_dir/<name>.pdf`` and ``.png``.

    ``module``: the already loaded script, if the caller has it.
    """
    module = module or load_figure_script(script)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BioplausError(f"{out}: cannot create the figure folder ({e.strerror}).") from e
    name = getattr(module, "NAME", Path(script).stem)
    with plt.style.context(STYLE):
        try:
            fig = module.make(store)
        except BioplausError:
            raise
        except Exception as e:
            raise BioplausError(f"{script}: make(store) failed: {type(e).__name__}: {e}") from e
        if not isinstance(fig, matplotlib.figure.Figure):
            raise BioplausError(f"{script}: make(store) returned {type(fig).__name__}, not a matplotlib Figure.")
        pdf, png = out / f"{name}.pdf", out / f"{name}.png"
        fig.savefig(pdf)
        fig.savefig(png)
        plt.close(fig)
    return pdf, png


def mean_and_spread(df: pd.DataFrame, x: str = "step") -> pd.DataFrame:
    """Mean and standard deviation over seeds of ``value`` at each ``x``: columns ``x, mean, std, n``."""
    g = df.groupby(x)["value"]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0), "n": g.count()}).reset_index()
    return out


def plot_by_rule(ax, df: pd.DataFrame, x: str = "step", group: str = "condition", **kwargs) -> None:
    """One mean curve with a +-1 s.d. band per condition (or rule), coloured by rule."""
    if df.empty:
        ax.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax.transAxes, color="0.5")
        return
    for key, d in df.groupby(group, sort=False):
        rule = d["rule"].iloc[0]
        s = mean_and_spread(d, x)
        color = RULE_COLORS.get(rule)
        label = RULE_LABELS.get(key, key) + (f" (n={s['n'].max()})" if s["n"].max() > 1 else "")
        (line,) = ax.plot(s[x], s["mean"], color=color, label=label, **kwargs)
        ax.fill_between(s[x], s["mean"] - s["std"], s["mean"] + s["std"], color=line.get_color(), alpha=0.18, linewidth=0)
