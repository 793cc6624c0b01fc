"""Figure helpers: the shipped style, rendering a figure script, and mean-and-spread curves.

A figure script defines ``make(store) -> matplotlib.figure.Figure`` and only reads the
store. :func:`render` calls it under the bioplaus style and writes PDF and PNG. Each run
carries its display title and colour in the store (``title``, ``colour`` columns of
``store.metrics()``); :func:`condition_styles` reads them, and :func:`rule_style` gives a
rule's own for things that are not runs (a published value drawn beside them).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import pandas as pd  # noqa: E402

from bioplaus.errors import BioplausError  # noqa: E402
from bioplaus.model_files import REPO_ROOT  # noqa: E402
from bioplaus.rule_index import title_and_colour  # noqa: E402

STYLE = Path(__file__).with_name("style") / "bioplaus.mplstyle"

def figure_candidates(protocol_source: str | None, protocol_name: str | None = None) -> list[Path]:
    """Where ``bioplaus run`` looks for a protocol's figure script, in order:
    ``figures/<protocol name>.py`` beside the script's folder (``protocols/../figures``), in the
    current directory and in the bioplaus source tree, then the same with the script's file name."""
    folders = []
    if protocol_source:
        folders.append(Path(protocol_source).parent.parent / "figures")
    folders += [Path.cwd() / "figures", REPO_ROOT / "figures"]
    stems = ([protocol_name] if protocol_name else []) + ([Path(protocol_source).stem] if protocol_source else [])
    out: list[Path] = []
    for stem in dict.fromkeys(stems):
        for folder in folders:
            if (folder / f"{stem}.py") not in out:
                out.append(folder / f"{stem}.py")
    return out


def figure_for(protocol_source: str | None, protocol_name: str | None = None) -> Path | None:
    """The first existing :func:`figure_candidates` path, or ``None``."""
    return next((p for p in figure_candidates(protocol_source, protocol_name) if p.is_file()), None)


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
        # no creation date in the PDF, no version in the PNG: the same store gives the same bytes (the gallery is in git)
        fig.savefig(pdf, metadata={"CreationDate": None})
        fig.savefig(png, metadata={"Software": None})
        plt.close(fig)
    return pdf, png


def mean_and_spread(df: pd.DataFrame, x: str = "step") -> pd.DataFrame:
    """Mean and standard deviation over seeds of ``value`` at each ``x``: columns ``x, mean, std, n``."""
    g = df.groupby(x)["value"]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=0), "n": g.count()}).reset_index()
    return out


def rule_style(rule: str) -> tuple[str, str | None]:
    """``(title, colour)`` of a rule by name, from the rule index (colour ``None``: the axes' cycle)."""
    return title_and_colour(rule)


#: line styles for conditions that share a colour, in order of appearance
LINESTYLES = ("-", "--", ":", "-.")


def condition_styles(df: pd.DataFrame, group: str = "condition") -> dict[str, tuple[str, str | None]]:
    """``{condition: (title, colour)}`` for the runs in ``df`` (rows of ``store.metrics()``), as stored with each
    run; a frame without those columns falls back to the rule index. ``group="rule"``: each rule's own title."""
    out: dict[str, tuple[str, str | None]] = {}
    for key, d in df.groupby(group, sort=False):
        row = d.iloc[0]
        if group == "rule":
            out[key] = rule_style(key)
            continue
        title = row["title"] if "title" in d and isinstance(row["title"], str) else None
        colour = row["colour"] if "colour" in d and isinstance(row["colour"], str) else None
        fallback = title_and_colour(row["rule"], row["condition"])
        out[key] = (title or fallback[0], colour if title else fallback[1])
    return out


def plot_by_rule(ax, df: pd.DataFrame, x: str = "step", group: str = "condition", **kwargs) -> None:
    """One mean curve with a +-1 s.d. band per condition (or rule), titled and coloured as stored with the runs.

    The legend label says ``(n=K)`` when K > 1 seeds are averaged. Conditions of one rule share its colour
    (a linear baseline trained by backprop, one rule at several sizes); the second and later are dashed, dotted, ...
    """
    if df.empty:
        ax.text(0.5, 0.5, "no data in the store", ha="center", va="center", transform=ax.transAxes, color="0.5")
        return
    styles = condition_styles(df, group)
    seen: dict[str | None, int] = {}
    for key, d in df.groupby(group, sort=False):
        s = mean_and_spread(d, x)
        title, color = styles[key]
        label = title + (f" (n={s['n'].max()})" if s["n"].max() > 1 else "")
        style = dict(kwargs)
        if color is not None:
            style.setdefault("linestyle", LINESTYLES[seen.get(color, 0) % len(LINESTYLES)])
            seen[color] = seen.get(color, 0) + 1
        (line,) = ax.plot(s[x], s["mean"], color=color, label=label, **style)
        ax.fill_between(s[x], s["mean"] - s["std"], s["mean"] + s["std"], color=line.get_color(), alpha=0.18, linewidth=0)


def log_steps(ax, df: pd.DataFrame, x: str = "step") -> None:
    """A symmetric-log step axis, linear up to the first recorded step after 0, so that a curve that
    rises before that step shows its start and the later steps are not squeezed into one corner."""
    later = df.loc[df[x] > 0, x] if not df.empty else df
    if len(later):
        first, last = float(later.min()), float(later.max())
        ax.set_xscale("symlog", linthresh=first, linscale=0.6)
        ax.set_xlim(0, last * 1.05)
        nice = [m * 10**k for k in range(int(math.log10(first)), int(math.log10(last)) + 1) for m in (1, 2, 5)]
        ax.set_xticks([0, first, *[v for v in nice if first < v <= last]])
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())


def finish(fig, legend_from=None, caption: str | None = None, ncol: int = 4) -> None:
    """Lay the figure out with the legend of ``legend_from`` (an axes) below the panels, outside the
    data, and ``caption`` (one or two lines of what a reader must know) under it."""
    height = fig.get_size_inches()[1]
    bottom_in = 0.0
    if legend_from is not None:
        handles, labels = legend_from.get_legend_handles_labels()
        if handles:
            rows = -(-len(handles) // ncol)
            bottom_in += 0.12 + 0.2 * rows
            fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False,
                       bbox_to_anchor=(0.5, (0.25 if caption else 0.02) / height))
    if caption:
        bottom_in += 0.3
        fig.text(0.01, 0.04 / height, caption, fontsize=7, color="0.3", ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, min(bottom_in / height, 0.5), 1, 1))
