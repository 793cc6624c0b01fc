"""The reproduction gallery: a static site, one page per protocol, written by ``bioplaus reproduce --site DIR``.

Layout (plain HTML and CSS, no external resources, works from ``file://`` and any static host)::

    DIR/index.html          one row per claim across the package, filterable by family and verdict (a small inline script)
    DIR/style.css
    DIR/NAME/index.html     the protocol's page: paper, docstring, claims with verdicts, figure, measured table, run times,
                            provenance and the command that regenerates it
    DIR/NAME/page.json      what the index reads: the claims and verdicts, the family, the script and its sha256, provenance
    DIR/NAME/<figure>.png   and .pdf, rendered from the store by the protocol's figure script

Everything on a page comes from the store (claims re-evaluated, tables by :func:`bioplaus.report.summary_table`,
figures by :func:`bioplaus.plotting.render`) and from the latest provenance record that ``reproduce`` wrote
(:func:`provenance_record`); nothing on it depends on the moment it is written, so the same store gives the same
bytes. The index marks a page *stale* when the protocol script's sha256 today differs from the one the page records.

``python -m bioplaus.gallery DIR`` prints the wall-time table of BENCHMARKS.md from a gallery's ``page.json`` files.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import json
import os
import platform
import shlex
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bioplaus.errors import BioplausError
from bioplaus.model_files import REPO_ROOT
from bioplaus.plotting import figure_for, render
from bioplaus.report import claim_verdicts, is_proxy, summary_table
from bioplaus.store import Store, package_versions

#: the family of each shipped protocol (the index filters by it); a protocol not listed is "other"
FAMILIES: dict[str, str] = {
    "akrout2019_digits": "feedback alignment",
    "fa_digits": "feedback alignment",
    "lillicrap2016_linear": "feedback alignment",
    "nokland2016_dfa": "feedback alignment",
    "ernoult2019_gdu": "energy-based / EP",
    "scellier2017_digits": "energy-based / EP",
    "scellier2017_digits_2h": "energy-based / EP",
    "scellier2023_comparative": "energy-based / EP",
    "copy_task_horizon": "recurrent / online",
    "marschall2020_alignment": "recurrent / online",
    "mujika2018_variance": "recurrent / online",
    "tallec2018_influence_balancing": "recurrent / online",
    "salimans2017_es": "perturbation & estimators",
    "grathwohl2018_relax": "perturbation & estimators",
    "vicol2021_pes": "perturbation & estimators",
    "werfel2005_perturbation": "perturbation & estimators",
    "fremaux2010_rpe": "spiking (Brian2)",
    "izhikevich2007_distal_reward": "spiking (Brian2)",
    "song2000_stdp": "spiking (Brian2)",
    "bellec2020_eprop": "spiking (torch)",
    "kriener2022_yinyang": "spiking (torch)",
    "zenke2021_randman": "spiking (torch)",
    "bartunov2018_mnist": "local targets (TP / PC)",
    "song2024_prospective": "local targets (TP / PC)",
    "whittington2017_pc": "local targets (TP / PC)",
    "arjona_medina2019_rudder": "reinforcement learning",
    "policy_gradient_alignment": "reinforcement learning",
    "schultz1997_dopamine": "reinforcement learning",
    "sutton_barto_random_walk": "reinforcement learning",
    "weber2019_baselines": "reinforcement learning",
}

VERDICT_ORDER = ("pass", "fail", "error", "not checkable", "full length only")


def family(protocol: str) -> str:
    return FAMILIES.get(protocol, "other")


# -- provenance --------------------------------------------------------------------------------------------------------
def script_sha256(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git_commit(root: Path = REPO_ROOT, exclude: Path | None = None) -> str | None:
    """The checkout's commit, with ``-dirty`` when tracked files differ from it (``exclude``: a folder whose changes
    do not count, the gallery being written); ``None`` outside git or without git."""
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30)
        if commit.returncode != 0:
            return None
        pathspec = ["--", "."]
        if exclude is not None:
            try:
                pathspec.append(f":(exclude){Path(exclude).resolve().relative_to(Path(root).resolve())}")
            except ValueError:  # the site is outside the checkout: nothing to leave out
                pass
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", *pathspec],
                                capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = status.returncode != 0 or bool(status.stdout.strip())
    return commit.stdout.strip() + ("-dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """Hostname, CPU model, core count and operating system of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"hostname": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "os": platform.platform()}


def provenance_record(script: str | os.PathLike, started: float, finished: float, command: str, quick: bool,
                      data_dir: str | None, site: Path | None = None) -> dict[str, Any]:
    """What ``reproduce`` stores about one protocol when it finishes (UNIX times ``started`` and ``finished``)."""
    return {
        "script": _display_path(script),
        "script_sha256": script_sha256(script),
        "git_commit": git_commit(exclude=site),
        "machine": machine(),
        "versions": package_versions(),
        "started_utc": _utc(started),
        "finished_utc": _utc(finished),
        "started_unix": started,
        "finished_unix": finished,
        "wall_s": round(finished - started, 3),
        "command": command,
        "quick": bool(quick),
        "data_dir": data_dir,
    }


def command_line(argv: list[str]) -> str:
    return shlex.join(["bioplaus", *argv])


def _utc(t: float | None) -> str:
    if t is None or t != t:
        return "-"
    return datetime.datetime.fromtimestamp(float(t), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _display_path(path: str | os.PathLike) -> str:
    """A path relative to the bioplaus checkout when inside it (pages do not show where a checkout lives), else absolute."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return str(p)


def _current_script(recorded: str) -> Path:
    p = Path(recorded)
    return p if p.is_absolute() else REPO_ROOT / p


# -- pages -------------------------------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    return struct.unpack(">II", head[16:24])


def _head(title: str, css: str) -> list[str]:
    return ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">', '<link rel="icon" href="data:,">',
            f"<title>{_e(title)}</title>", f'<link rel="stylesheet" href="{css}">', "</head>", "<body>"]


def _verdict_cell(verdict: str, measured: str, statement: str, reason: str) -> str:
    """The verdict in its colour, and for anything but a pass, in words: a fail with what was measured against
    the criterion, another verdict with its reason."""
    cls = "v-" + verdict.replace(" ", "-")
    if verdict == "fail":
        words = f": measured {measured}, criterion {statement}"
    else:
        words = f": {reason}" if reason and verdict != "pass" else ""
    return f'<span class="verdict {cls}">{_e(verdict)}</span>' + (f'<span class="reason">{_e(words)}</span>' if words else "")


def _when_measured(store: Store, name: str, prov: dict[str, Any]) -> str:
    """When the runs were measured, beside the invocation that recorded the provenance (which may have resumed them)."""
    runs = store.conn.execute("SELECT started_at, finished_at, duration_s FROM runs WHERE protocol = ? AND finished_at IS NOT NULL",
                              (name,)).fetchall()
    if not runs:
        return "No run of this protocol has finished."
    start, end = prov.get("started_unix"), prov.get("finished_unix")
    if start is None or end is None:
        return ""
    during = sum(s is not None and s >= start and f <= end for s, f, _ in runs)
    first, last = min(f for _, f, _ in runs), max(f for _, f, _ in runs)
    compute = sum(d or 0.0 for _, _, d in runs)
    return (f"The {len(runs)} finished runs were measured between {_utc(first)} and {_utc(last)} ({_duration(compute)} of compute "
            f"in all); {during} of them by the invocation above, which took {_duration(prov.get('wall_s'))}"
            + ("; the others were already in the store and were not measured again." if during < len(runs) else "."))


def _elapsed(times) -> float | None:
    """Seconds from the first run's start to the last run's end (the wall time of the measurement, if it ran in one go)."""
    if times is None or not len(times) or times["last_finished"].isna().all():
        return None
    return round(float(times["last_finished"].max() - times["first_started"].min()), 1)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _duration(s: float | None) -> str:
    if s is None or s != s:
        return "-"
    s = float(s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def write_page(site: Path, store: Store, protocol, script: Path, quick: bool = False, data_dir: str | None = None,
               error: str | None = None) -> Path:
    """Write ``site/NAME/`` for one protocol (``protocol``: the loaded :class:`~bioplaus.protocol.Protocol` as run, or
    ``None`` when ``error`` says why it could not be loaded) from ``store``; returns the page. Files in the folder
    that the page no longer uses are removed; nothing outside it is touched."""
    name = protocol.name if protocol is not None else Path(script).stem
    folder = Path(site) / name
    folder.mkdir(parents=True, exist_ok=True)
    written: set[str] = {"index.html", "page.json"}
    prov = store.provenance(name) if protocol is not None else None
    rows = claim_verdicts(store, protocol, quick, data_dir) if protocol is not None and error is None else []
    doc = (protocol.description if protocol is not None else "").strip()
    title = doc.split("\n\n")[0].replace("\n", " ").strip().strip('"') if doc else name

    out = _head(f"{name}: bioplaus reproduction", "../style.css")
    out += ['<nav><a href="../index.html">&larr; all reproductions</a></nav>', f"<h1>{_e(name)}</h1>",
            f'<p class="lead">{_e(title)}</p>',
            f'<p class="meta">Family: {_e(family(name))}. Script: <code>{_e(_display_path(script))}</code>. '
            + ("<strong>Quick run</strong> (--quick: fewer steps and seeds than the paper; not the full-length result)."
               if quick else "Full-length run.") + "</p>"]
    if error:
        out += ['<section class="error"><h2>Could not be reproduced</h2>', f"<pre>{_e(error)}</pre></section>"]

    counts = {v: sum(r[1].verdict == v for r in rows) for v in VERDICT_ORDER}
    if rows:
        summary = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        failed = [(c, v) for c, v in rows if v.verdict in ("fail", "error")]
        out.append(f'<p class="summary">{len(rows)} claim(s): {_e(summary)}.</p>')
        if failed:
            out.append('<div class="disagree"><strong>This run disagrees with the paper on '
                       f"{len(failed)} claim(s):</strong><ul>")
            out += [f"<li>{_e(c.paper)}, {_e(c.where)}: {_e(c.statement())}: measured {_e(v.measured)}"
                    + (f" ({_e(v.reason)})" if v.reason else "") + "</li>" for c, v in failed]
            out.append("</ul>The protocol's description below says what is known about the disagreement.</div>")
        out += ["<h2>Claims</h2>", '<table class="claims"><thead><tr><th>paper, where</th><th>claim (as checked)</th>'
                "<th>published</th><th>published on</th><th>measured</th><th>verdict</th><th>setting</th></tr></thead><tbody>"]
        for c, v in rows:
            proxy = "proxy" if is_proxy(c, protocol, data_dir) else "same setting"
            out.append(f"<tr><td>{_e(c.paper)}, {_e(c.where)}</td><td>{_e(c.statement())}"
                       + (f'<div class="note">Note: {_e(c.note)}</div>' if c.note else "")
                       + f"</td><td>{_e(c.published or '-')}</td><td>{_e(c.published_on or '-')}</td><td>{_e(v.measured)}</td>"
                       f"<td>{_verdict_cell(v.verdict, v.measured, c.statement(), v.reason)}</td><td>{proxy}</td></tr>")
        out.append("</tbody></table>")

    if protocol is not None and error is None:
        fig = figure_for(protocol.source, protocol.name)
        figure_error = None
        if fig is not None:
            with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".render-") as tmp:
                try:
                    pdf, png = (_replace_if_changed(f, folder / f.name) for f in render(fig, store, tmp))
                except BioplausError as e:  # the page still shows the claims and tables, and says why there is no figure
                    figure_error = str(e)
        if figure_error is not None:
            out += ["<h2>Figure</h2>", f'<p class="error">The figure could not be rendered: {_e(figure_error)}</p>']
        elif fig is not None:
            written |= {pdf.name, png.name}
            w, h = _png_size(png)
            out += ["<h2>Figure</h2>", f'<figure><img src="{_e(png.name)}" width="{w}" height="{h}" '
                    f'alt="{_e(name)}: figure rendered from the stored runs by {_e(_display_path(fig))}">',
                    f'<figcaption>Rendered from the store by <code>{_e(_display_path(fig))}</code>. '
                    f'<a href="{_e(pdf.name)}">PDF</a>.</figcaption></figure>']
    if doc:  # the paper, the published result and what this run measured, disagreements included, in the author's words
        out += ["<h2>Description (the protocol's docstring)</h2>", f'<pre class="doc">{_e(doc)}</pre>']
    if protocol is not None and error is None:
        labels = [c.label for c in protocol.conditions]
        out += ["<h2>Measured</h2>", f"<pre class=\"table\">{_e(summary_table(store, name, conditions=labels))}</pre>"]

    times = store.run_times(name) if protocol is not None else None
    if times is not None and len(times):
        out += ["<h2>Run times</h2>", '<table class="times"><thead><tr><th>condition</th><th>runs</th><th>done</th>'
                "<th>compute (sum of runs)</th><th>first finished</th><th>last finished</th></tr></thead><tbody>"]
        for r in times.itertuples():
            out.append(f"<tr><td>{_e(r.condition)}</td><td>{r.runs}</td><td>{int(r.done or 0)}</td><td>{_duration(r.duration_s)}</td>"
                       f"<td>{_utc(r.first_finished)}</td><td>{_utc(r.last_finished)}</td></tr>")
        total = times["duration_s"].sum()
        out.append(f"<tr class=\"total\"><td>all</td><td>{int(times['runs'].sum())}</td><td>{int(times['done'].sum())}</td>"
                   f"<td>{_duration(total)}</td><td>{_utc(times['first_finished'].min())}</td>"
                   f"<td>{_utc(times['last_finished'].max())}</td></tr></tbody></table>")
        out.append("<p>Compute: the runs' own durations added up (with several workers the elapsed time is shorter). "
                   "The runs finished between the first and the last time shown, which may be before the provenance below "
                   "was recorded: <code>reproduce</code> resumes from the store and re-measures nothing that is there.</p>")

    out.append("<h2>Provenance</h2>")
    if prov:
        m = prov.get("machine", {})
        versions = ", ".join(f"{k} {v}" for k, v in sorted(prov.get("versions", {}).items()))
        items = [("recorded", f"{prov.get('started_utc')} to {prov.get('finished_utc')} "
                  f"(wall time of that invocation: {_duration(prov.get('wall_s'))})"),
                 ("command", prov.get("command")), ("git commit", prov.get("git_commit") or "not a git checkout"),
                 ("script", f"{prov.get('script')} (sha256 {prov.get('script_sha256')})"),
                 ("machine", f"{m.get('hostname')}: {m.get('cpu')}, {m.get('cores')} cores, {m.get('os')}"),
                 ("versions", versions), ("length", "quick" if prov.get("quick") else "full"),
                 ("data folder", prov.get("data_dir") or "none (default tasks)")]
        out.append('<dl class="provenance">' + "".join(f"<dt>{_e(k)}</dt><dd><code>{_e(v)}</code></dd>" for k, v in items) + "</dl>")
        if times is not None and len(times):
            out.append(f"<p>{_e(_when_measured(store, name, prov))}</p>")
    else:
        out.append("<p>No provenance recorded in the store for this protocol.</p>")
    regenerate = command_line(["reproduce", "--quick" if quick else "--full", "--only", name, "--store", "STORE", "--site", "DIR"])
    out += ["<h2>Regenerate</h2>", f"<pre>{_e(regenerate)}</pre>",
            "<p>STORE: the results store (kept outside the work tree); finished runs in it are not run again. "
            "DIR: this gallery's folder (<code>docs/reproductions</code>); only this page and the index are rewritten.</p>"]
    out += ["</body>", "</html>"]
    _write(folder / "index.html", "\n".join(out) + "\n")

    sha = (prov or {}).get("script_sha256") or (script_sha256(script) if Path(script).is_file() else None)
    record = {"protocol": name, "family": family(name), "title": title, "quick": bool(quick), "error": error,
              "script": (prov or {}).get("script") or _display_path(script), "script_sha256": sha, "provenance": prov,
              "compute_s": float(times["duration_s"].sum()) if times is not None and len(times) else None,
              "elapsed_s": _elapsed(times),
              "measured_utc": _utc(times["last_finished"].max()) if times is not None and len(times) else None,
              "claims": [{"paper": c.paper, "where": c.where, "statement": c.statement(), "published": c.published,
                          "measured": v.measured, "verdict": v.verdict, "reason": v.reason,
                          "proxy": is_proxy(c, protocol, data_dir)} for c, v in rows]}
    _write(folder / "page.json", json.dumps(record, indent=1, sort_keys=True) + "\n")
    for f in folder.iterdir():
        if f.is_file() and f.name not in written:
            f.unlink()
    return folder / "index.html"


def _replace_if_changed(new: Path, path: Path) -> Path:
    """Move ``new`` to ``path`` unless ``path`` already holds the same bytes (then it is left untouched)."""
    if path.is_file() and path.read_bytes() == new.read_bytes():
        return path
    os.replace(new, path)
    return path


def _write(path: Path, text: str) -> None:
    """Write only when the content changes (an unchanged page keeps its file untouched)."""
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def read_pages(site: Path) -> list[dict[str, Any]]:
    """Every ``site/*/page.json``, sorted by protocol name, each with ``stale`` set: ``True`` when the script's
    sha256 today differs from the recorded one, ``None`` when the script is not found."""
    pages = []
    for path in sorted(Path(site).glob("*/page.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        current = _current_script(record["script"])
        known = current.is_file() and record["script_sha256"] is not None
        record["stale"] = script_sha256(current) != record["script_sha256"] if known else None
        pages.append(record)
    return pages


_FILTER_JS = """
(function () {
  var family = document.getElementById("family"), verdict = document.getElementById("verdict");
  var shown = document.getElementById("shown");
  function apply() {
    var rows = document.querySelectorAll("#claims tbody tr"), n = 0;
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var ok = (!family.value || r.dataset.family === family.value) && (!verdict.value || r.dataset.verdict === verdict.value);
      r.hidden = !ok;
      if (ok) { n++; }
    }
    shown.textContent = n + " of " + rows.length + " claims shown";
  }
  family.addEventListener("change", apply);
  verdict.addEventListener("change", apply);
  apply();
})();
"""


def write_index(site: Path) -> Path:
    """Write ``site/index.html`` and ``site/style.css`` from the ``page.json`` files in ``site``."""
    site = Path(site)
    site.mkdir(parents=True, exist_ok=True)
    _write(site / "style.css", STYLE_CSS)
    pages = read_pages(site)
    claims = [(p, c) for p in pages for c in p["claims"]]
    counts = {v: sum(c["verdict"] == v for _, c in claims) for v in VERDICT_ORDER}
    stale = [p["protocol"] for p in pages if p["stale"]]
    families = sorted({p["family"] for p in pages})
    out = _head("bioplaus reproductions", "style.css")
    out += ["<h1>bioplaus reproductions</h1>",
            "<p class=\"lead\">Each page is one protocol of bioplaus run at full length (unless marked quick), with every "
            "claim it checks against its paper, the figure and the measured table from the stored runs, run times, and "
            "what produced them. A failing claim is a result: the page says how the run disagrees with the paper.</p>",
            f'<p class="summary">{len(pages)} protocol(s), {len(claims)} claim(s): '
            + _e(", ".join(f"{n} {v}" for v, n in counts.items() if n) or "none") + "."
            + (f' <span class="stale">{len(stale)} page(s) stale</span> (the protocol script changed since the page was '
               "made; regenerate it)." if stale else "") + "</p>",
            "<h2>Protocols</h2>", '<table class="protocols"><thead><tr><th>protocol</th><th>family</th><th>claims passed</th>'
            "<th>measured</th><th>page</th></tr></thead><tbody>"]
    for p in pages:
        n_pass = sum(c["verdict"] == "pass" for c in p["claims"])
        when = (p.get("measured_utc") or "-")[:10]  # when the last run finished (the page may have been written later)
        length = "quick" if p["quick"] else "full"
        state = "error" if p["error"] else {True: '<span class="stale">stale</span>', False: "current",
                                              None: "script not found"}[p["stale"]]
        out.append(f'<tr><td><a href="{_e(p["protocol"])}/index.html">{_e(p["protocol"])}</a></td><td>{_e(p["family"])}</td>'
                   f"<td>{n_pass} / {len(p['claims'])}</td><td>{_e(when)}, {length}</td><td>{state}</td></tr>")
    out += ["</tbody></table>", "<h2>Claims</h2>",
            '<form class="filters"><label>family <select id="family"><option value="">all</option>'
            + "".join(f'<option value="{_e(f)}">{_e(f)}</option>' for f in families) + "</select></label> "
            '<label>verdict <select id="verdict"><option value="">all</option>'
            + "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in VERDICT_ORDER if counts[v]) + "</select></label> "
            '<span id="shown"></span></form>',
            '<table id="claims" class="claims"><thead><tr><th>protocol</th><th>family</th><th>paper, where</th>'
            "<th>claim (as checked)</th><th>published</th><th>measured</th><th>verdict</th><th>setting</th></tr></thead><tbody>"]
    for p, c in claims:
        out.append(f'<tr data-family="{_e(p["family"])}" data-verdict="{_e(c["verdict"])}">'
                   f'<td><a href="{_e(p["protocol"])}/index.html">{_e(p["protocol"])}</a>'
                   + (' <span class="stale">stale</span>' if p["stale"] else "") + f"</td><td>{_e(p['family'])}</td>"
                   f"<td>{_e(c['paper'])}, {_e(c['where'])}</td><td>{_e(c['statement'])}</td><td>{_e(c['published'] or '-')}</td>"
                   f"<td>{_e(_short(c['measured']))}</td>"
                   f"<td>{_verdict_cell(c['verdict'], _short(c['measured']), c['statement'], _short(c['reason']))}</td>"
                   f"<td>{'proxy' if c['proxy'] else 'same setting'}</td></tr>")
    out += ["</tbody></table>", f"<script>{_FILTER_JS}</script>", "</body>", "</html>"]
    _write(site / "index.html", "\n".join(out) + "\n")
    return site / "index.html"


def wall_time_table(site: Path) -> str:
    """A Markdown table of each page's runs: from the first run's start to the last one's end, compute (the runs' durations
    added up), the wall time of the ``reproduce`` that wrote the page (near 0 when it resumed finished runs), machine."""
    lines = ["| protocol | length | first run start to last run end | compute (sum of runs) | wall time of the `reproduce` that "
             "made the page | machine | recorded |", "|---|---|---|---|---|---|---|"]
    for p in read_pages(site):
        prov = p.get("provenance") or {}
        m = prov.get("machine") or {}
        where = f"{m.get('cpu', '-')}, {m.get('cores', '-')} cores" if m else "-"
        lines.append(f"| {p['protocol']} | {'quick' if p['quick'] else 'full'} | {_duration(p.get('elapsed_s'))} | "
                     f"{_duration(p.get('compute_s'))} | {_duration(prov.get('wall_s'))} | {where} | {(prov.get('finished_utc') or '-')[:10]} |")
    return "\n".join(lines)


STYLE_CSS = """\
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em auto; max-width: 72em;
       padding: 0 1em; color: #1a1a1a; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.lead { font-size: 1.1em; } .meta, .note, figcaption { color: #555; } .note { font-size: 0.9em; margin-top: 0.3em; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.verdict { font-weight: 600; padding: 0.05em 0.4em; border-radius: 3px; }
.v-pass { background: #d9f2dc; color: #14541f; }
.v-fail, .v-error { background: #fbdcdc; color: #8a1010; }
.v-not-checkable, .v-full-length-only { background: #eee; color: #444; }
.reason { font-size: 0.92em; }
.stale { background: #fff0c2; color: #6b4e00; padding: 0.05em 0.4em; border-radius: 3px; font-weight: 600; }
.disagree { border-left: 4px solid #c62828; background: #fdf1f1; padding: 0.5em 1em; margin: 1em 0; }
.error { border-left: 4px solid #c62828; padding-left: 1em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
pre.doc { white-space: pre-wrap; } pre.table { font-size: 0.85em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
dl.provenance { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
dl.provenance dd { margin: 0; overflow-wrap: anywhere; }
.filters { margin: 0.5em 0; } .filters label { margin-right: 1em; } #shown { color: #555; }
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m bioplaus.gallery DIR (a gallery folder written by bioplaus reproduce --site DIR): "
              "prints the wall-time table for BENCHMARKS.md", file=sys.stderr)
        return 2
    print(wall_time_table(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
