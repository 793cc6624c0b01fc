"""``bioplaus reproduce``: run the shipped protocols that declare claims and write one Markdown
report with a verdict per claim (``pass``, ``fail``, ``not checkable``, ``full length only`` or
``error``) beside the published result.

Each protocol runs into one store (skipping what is already there), its figure is
rendered next to the report, and a protocol that fails to load or run is reported as
such without stopping the others. When a protocol's runs are done, what produced them is
recorded in the store (:func:`bioplaus.gallery.provenance_record`); with ``site``, each
protocol's gallery page and the gallery's index are written (:mod:`bioplaus.gallery`).
"""

from __future__ import annotations

import datetime
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from bioplaus.claims import Claim, Verdict
from bioplaus.errors import BioplausError
from bioplaus.execute import run_protocol
from bioplaus.gallery import provenance_record, write_index, write_page
from bioplaus.plotting import figure_for, render
from bioplaus.protocol import Protocol, load_protocol
from bioplaus.report import claim_verdicts, is_proxy, step_size_line
from bioplaus.version import __version__
from bioplaus.store import Store


@dataclass
class Entry:
    """What the report says about one protocol script."""

    script: Path
    protocol: Protocol | None = None
    error: str | None = None
    failed_runs: int = 0
    figure: Path | None = None
    rows: list[tuple[Claim, Verdict]] = field(default_factory=list)

    @property
    def claims_failed(self) -> int:
        """Claims whose verdict is ``fail`` or ``error``."""
        return sum(v.verdict in ("fail", "error") for _, v in self.rows)


def run_entry(script: Path, store: Store, figures_dir: Path, quick: bool, workers: int, executor: str | None,
              data_dir: str | None, progress: bool, command: str = "", site: Path | None = None) -> Entry:
    """Load, run and measure one protocol script; errors end up in ``Entry.error``. Once its runs are done, the
    provenance is recorded in ``store`` (``command``: the command line, shown on the gallery page)."""

    entry = Entry(script)
    try:
        protocol = load_protocol(script)
        entry.protocol = protocol = protocol.quick_version() if quick else protocol
        if not protocol.targets:
            return entry
        started = time.time()
        report = run_protocol(protocol, store, workers=workers, device="cpu", data_dir=data_dir, quick=quick,
                              progress=progress, executor=executor)
        store.record_provenance(protocol.name, provenance_record(script, started, time.time(), command, quick, data_dir, site))
        entry.failed_runs = report.failed
        entry.rows = claim_verdicts(store, protocol, quick, data_dir)
        fig = figure_for(protocol.source, protocol.name)
        if fig is not None:
            entry.figure = render(fig, store, figures_dir)[1]
    except BioplausError as e:
        entry.error = str(e)
    except Exception as e:  # a broken protocol must not cost the others their report
        entry.error = f"{type(e).__name__}: {e} ({traceback.format_exc().strip().splitlines()[-2].strip()})"
    return entry


def verdict_text(v: Verdict) -> str:
    """The verdict column: the verdict, with its reason for anything but pass and fail."""
    text = f"**{v.verdict}**" if v.verdict in ("fail", "error") else v.verdict
    return f"{text} ({v.reason})" if v.reason and v.verdict not in ("pass", "fail") else text


def markdown(entries: list[Entry], store_path: Path, out: Path, quick: bool, data_dir: str | None = None) -> str:
    """The report: a summary table of every target, then one section per protocol with its figure."""
    lines = [
        "# bioplaus reproduction report",
        "",
        f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, bioplaus {__version__}, Python {platform.python_version()} "
        f"on {platform.machine()}; {'quick runs (--quick: fewer steps and seeds than the papers)' if quick else 'full runs'}; "
        f"store `{store_path}`. Measured: mean ± s.d. over seeds at the last recorded step. *Proxy*: the default run "
        "stands in for the published setting (e.g. MNIST-1D or the 8x8 digits for MNIST), so numbers are not comparable "
        "one for one; the published setting is in the last column. Each claim reads the conditions it names, one at a time "
        "(means over that condition's seeds; s.d. shown for n >= 3).",
        "",
        "| protocol | paper, where | claim (checked by the program) | published | measured | verdict | proxy | published on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        name = e.protocol.name if e.protocol else e.script.stem
        if e.error:
            lines.append(f"| {name} | | | | | **error** (see below) | | |")
            continue
        if not e.rows:
            continue
        for c, v in e.rows:
            cells = [name, f"{c.paper}, {c.where}", c.statement(), c.published or "-", v.measured, verdict_text(v),
                     "proxy" if is_proxy(c, e.protocol, data_dir) else "same setting", c.published_on or "-"]
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    for e in entries:
        name = e.protocol.name if e.protocol else e.script.stem
        lines += ["", f"## {name}", "", f"Script: `{e.script}`."]
        if e.error:
            lines += ["", f"Could not be reproduced here: {e.error}"]
            continue
        if not e.protocol.targets:
            lines += ["", "Declares no published target; not run."]
            continue
        doc = e.protocol.description.split("\n\n")[0].replace("\n", " ").strip()
        if doc:
            lines += ["", doc]
        selected = step_size_line(e.protocol)
        if selected:
            lines += ["", selected]
        for c, _ in e.rows:
            if c.note:
                lines += ["", f"Note on \"{c.statement()}\": {c.note}"]
        if e.failed_runs:
            lines += ["", f"{e.failed_runs} run(s) failed; see `bioplaus results --store {store_path}`."]
        if e.figure is not None:
            rel = Path(e.figure).resolve().relative_to(out.parent.resolve()) if _inside(e.figure, out.parent) else e.figure
            lines += ["", f"![{name}]({rel})"]
    return "\n".join(lines) + "\n"


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(path).resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def reproduce(scripts: list[Path], store_path: Path, out: Path, quick: bool = False, workers: int = 1,
              executor: str | None = None, data_dir: str | None = None, progress: bool = True, site: Path | None = None,
              command: str = "") -> tuple[list[Entry], int]:
    """Run ``scripts`` into ``store_path`` and write the report to ``out``; returns the entries and an exit status
    (1 if any protocol could not be run, any run failed or any claim's verdict is ``fail`` or ``error``, else 0).

    ``site``: also write the gallery pages of these protocols (those with claims, and those that could not be
    loaded or run) and regenerate the gallery's index there; other protocols' pages are left untouched.
    ``command``: the command line, recorded with each protocol's provenance."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BioplausError(f"{out}: cannot create the report's folder ({e.strerror}).") from e
    if out.is_dir():
        raise BioplausError(f"{out}: --out is a folder; give the path of the Markdown file to write, e.g. {out / 'REPRODUCTION.md'}.")
    store = Store(store_path)
    try:
        entries = [run_entry(s, store, out.parent / "figures", quick, workers, executor, data_dir, progress, command, site)
                   for s in scripts]
        if site is not None:
            for e in entries:
                if e.error or (e.protocol is not None and e.protocol.targets):
                    write_page(site, store, e.protocol, e.script, quick, data_dir, e.error)
            write_index(site)
    finally:
        store.close()
    out.write_text(markdown(entries, store_path, out, quick, data_dir))
    status = 1 if any(e.error or e.failed_runs or e.claims_failed for e in entries) else 0
    return entries, status
