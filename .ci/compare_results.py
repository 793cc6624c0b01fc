#!/usr/bin/env python3
"""The refactoring safety net: run every shipped protocol's ``--quick`` in a baseline commit
and in a working tree, and compare their results row by row.

    python .ci/compare_results.py BASELINE_COMMIT [--protocols NAME ...] [--store-dir DIR]
                                  [--reuse-baseline] [--new-tree PATH] [--tolerant NAME[=RTOL] ...]

The baseline commit is checked out in a temporary ``git worktree``. Both trees run with this
interpreter (one virtual environment) and ``PYTHONPATH=<tree>``, from the tree's root, so that
``import bioplaus`` resolves to that tree (checked before anything runs); ``BIOPLAUS_*``
variables are removed from their environment. Each protocol of the baseline commit's
``protocols/`` runs as ``python -m bioplaus run SCRIPT --quick --store S --no-figure``, from
*the baseline commit's script* in both trees (``--scripts own`` runs each tree's own script of
the same name instead, for a refactor that changes the protocol API), and its store is
exported with ``python -m bioplaus results --store S --format csv`` by the same tree.

Comparison, per protocol, keyed by (protocol, condition, seed, step, metric, layer):

* strict (default): every row present in both trees has the identical value (NaN = NaN);
  rows only in the new tree are listed apart as *new rows* and do not fail; rows only in
  the baseline fail; the run counts (done / diverged / failed) and the published-target
  lines that ``bioplaus run`` prints must be identical.
* tolerant (``--tolerant NAME``, for a protocol where a change in the order of floating-point
  operations is the point): rows at step 0 agree within ``--rtol`` relative (default 1e-12,
  for float64; give ``NAME=1e-6`` for a float32 protocol) or ``--atol`` absolute; later rows
  are reported with their largest difference and do not fail; the targets' verdicts
  (consistent / NOT consistent / not measured) must be unchanged, their measured numbers may move.

Stores, CSV exports, console output and timings are kept in ``--store-dir`` (default
``~/.cache/bioplaus/compare-results``, outside every tree): ``baseline-<commit>/`` and
``new-<tree folder name>/``, so two comparisons must not share a store dir at the same time. With
``--reuse-baseline`` the protocols that finished there for this commit (status 0) are not run again,
so repeated comparisons against one baseline cost one run of the new tree each. The new
tree's stores are replaced on every call.

Exit status: 0 when every protocol matches, 1 when any differs or fails to run, 2 for bad
arguments. Only the standard library is used, so the script runs whatever either tree imports.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

KEY = ("protocol", "condition", "seed", "step", "metric", "layer")
RUN_LINE = re.compile(r"^(?P<name>\S+): \d+ run\(s\) computed \((?P<done>\d+) done, (?P<diverged>\d+) diverged, "
                      r"(?P<failed>\d+) failed\)")
MEASURED = re.compile(r"measured \S+ ± \S+ \(n=(\d+)\)")
SHOWN = 5  # differing rows printed per protocol


class UsageError(Exception):
    """Bad arguments: printed as one paragraph, exit status 2."""


@dataclass
class Run:
    """One protocol run in one tree, as recorded in ``<dir>/<protocol>.json`` beside its files."""

    rc: int
    wall_s: float
    csv: Path
    stdout: Path
    stderr: Path
    reused: bool = False

    def counts(self) -> dict[str, int] | None:
        for line in self.stdout.read_text().splitlines():
            m = RUN_LINE.match(line)
            if m:
                return {k: int(m.group(k)) for k in ("done", "diverged", "failed")}
        return None

    def target_lines(self) -> list[str]:
        return [line for line in self.stdout.read_text().splitlines() if line.startswith("published (")]


@dataclass
class Outcome:
    """What the comparison of one protocol found."""

    name: str
    mode: str
    base: Run | None
    new: Run | None
    compared: int = 0
    identical: int = 0
    differing: list[tuple[tuple[str, ...], float, float, float]] = field(default_factory=list)  # key, base, new, rel
    within: int = 0  # tolerant: step-0 rows within tolerance
    later_max: tuple[float, float, tuple[str, ...] | None] = (0.0, 0.0, None)  # tolerant: max |diff|, max rel, at key
    new_rows: Counter = field(default_factory=Counter)  # (metric, layer) -> count
    missing: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise UsageError(f"git {' '.join(args)} in {repo} failed: {out.stderr.strip()}")
    return out.stdout.strip()


def tree_env(tree: Path) -> dict[str, str]:
    """This process's environment with ``PYTHONPATH=<tree>`` and no ``BIOPLAUS_*`` settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOPLAUS_")}
    env["PYTHONPATH"] = str(tree)
    env["MPLBACKEND"] = "Agg"
    return env


def check_import(tree: Path) -> str:
    """Where ``import bioplaus`` resolves when run in ``tree``; a UsageError unless inside it."""
    out = subprocess.run([sys.executable, "-c", "import bioplaus; print(bioplaus.__file__)"], cwd=tree,
                         env=tree_env(tree), capture_output=True, text=True, check=False)
    where = out.stdout.strip()
    if out.returncode != 0 or not Path(where).resolve().is_relative_to(tree.resolve()):
        raise UsageError(f"{tree}: 'import bioplaus' with PYTHONPATH={tree} resolves to {where or out.stderr.strip()!r}, "
                         f"not to this tree; run the script with a Python whose environment does not shadow it.")
    return where


def run_protocol(tree: Path, script: Path, out_dir: Path, name: str, timeout_s: float) -> Run:
    """``bioplaus run SCRIPT --quick`` into a fresh store in ``out_dir``, then its CSV export; files named ``name.*``."""
    store = out_dir / f"{name}.sqlite"
    for p in out_dir.glob(f"{name}.*"):  # the store, its -wal/-shm files and .arrays folder, logs, CSV
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    stdout, stderr, table = (out_dir / f"{name}.{ext}" for ext in ("stdout.txt", "stderr.txt", "csv"))
    env = tree_env(tree)
    cmd = [sys.executable, "-m", "bioplaus", "run", str(script), "--quick", "--store", str(store),
           "--no-figure", "--no-progress"]
    start = time.perf_counter()
    with stdout.open("w") as so, stderr.open("w") as se:
        try:
            rc = subprocess.run(cmd, cwd=tree, env=env, stdout=so, stderr=se, timeout=timeout_s,
                                check=False).returncode
        except subprocess.TimeoutExpired:
            se.write(f"\ncompare_results: killed after {timeout_s:.0f} s\n")
            rc = 124
    wall = time.perf_counter() - start
    with table.open("w") as t, stderr.open("a") as se:
        export = subprocess.run([sys.executable, "-m", "bioplaus", "results", "--store", str(store), "--format", "csv"],
                                cwd=tree, env=env, stdout=t, stderr=se, check=False)
    rc = rc or export.returncode
    (out_dir / f"{name}.json").write_text(json.dumps(
        {"rc": rc, "wall_s": round(wall, 2), "tree": str(tree), "script": str(script), "python": sys.executable,
         "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=1))
    return Run(rc, wall, table, stdout, stderr)


def recorded_run(out_dir: Path, name: str) -> Run | None:
    """A run that an earlier call finished with status 0 in ``out_dir``, or None."""
    meta = out_dir / f"{name}.json"
    if not meta.is_file():
        return None
    m = json.loads(meta.read_text())
    if m["rc"] != 0:
        return None
    return Run(m["rc"], m["wall_s"], out_dir / f"{name}.csv", out_dir / f"{name}.stdout.txt",
               out_dir / f"{name}.stderr.txt", reused=True)


def read_rows(path: Path) -> tuple[dict[tuple[str, ...], list[str]], dict[str, set[str]]]:
    """CSV rows grouped by KEY, values in file order; and each condition's rule names."""
    rows: dict[tuple[str, ...], list[str]] = defaultdict(list)
    rules: dict[str, set[str]] = defaultdict(set)
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        lacking = [c for c in (*KEY, "value") if c not in (reader.fieldnames or [])]
        if lacking:
            raise ValueError(f"{path}: the CSV lacks the column(s) {', '.join(lacking)}")
        for r in reader:
            rows[tuple(r[c] for c in KEY)].append(r["value"])
            if "rule" in r:
                rules[r["condition"]].add(r["rule"])
    return rows, rules


def as_float(text: str) -> float:
    return float(text) if text.strip() else math.nan


def difference(a: float, b: float) -> tuple[float, float]:
    """(|a - b|, |a - b| / max(|a|, |b|)); (0, 0) when both are equal or both NaN."""
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0, 0.0
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return math.inf, math.inf
    d = abs(a - b)
    return d, d / max(abs(a), abs(b))


def verdict_of(line: str) -> str:
    """A target line with its measured numbers blanked (the count n kept)."""
    return MEASURED.sub(lambda m: f"measured … (n={m.group(1)})", line)


def compare(name: str, base: Run, new: Run, rtol: float | None, atol: float, hint: str = "") -> Outcome:
    """Compare one protocol's two runs; ``rtol`` None is the strict mode; ``hint`` follows a failed new run."""
    out = Outcome(name, "strict" if rtol is None else f"tolerant rtol={rtol:g}" + (f" atol={atol:g}" if atol else ""), base, new)
    for tree, run in (("baseline", base), ("new", new)):
        if run.rc != 0:
            tail = " | ".join(run.stderr.read_text().strip().splitlines()[-3:])
            out.failures.append(f"{tree} run exited with status {run.rc}: {tail} (log: {run.stderr})"
                                + (hint if tree == "new" else ""))
    if out.failures:
        return out
    try:
        brows, brules = read_rows(base.csv)
        nrows, nrules = read_rows(new.csv)
    except ValueError as e:
        out.failures.append(str(e))
        return out
    if not brows:
        out.failures.append("the baseline stored no rows")
    later_max = (0.0, 0.0, None)
    for key, bvals in brows.items():
        nvals = nrows.get(key, [])
        for i, btext in enumerate(bvals):
            if i >= len(nvals):
                out.missing.append(key)
                continue
            b, n = as_float(btext), as_float(nvals[i])
            d, rel = difference(b, n)
            out.compared += 1
            if d == 0.0:
                out.identical += 1
            elif rtol is None:
                out.differing.append((key, b, n, rel))
            elif key[3] == "0":
                if rel <= rtol or d <= atol:
                    out.within += 1
                else:
                    out.differing.append((key, b, n, rel))
            elif rel > later_max[1] or (rel == later_max[1] and d > later_max[0]):
                later_max = (d, rel, key)
        for _ in nvals[len(bvals):]:
            out.new_rows[(key[4], key[5])] += 1
    for key, nvals in nrows.items():
        if key not in brows:
            out.new_rows[(key[4], key[5])] += len(nvals)
    out.later_max = later_max
    if out.differing:
        out.failures.append(f"{len(out.differing)} row(s) differ" + (" at step 0 beyond tolerance" if rtol is not None else ""))
    if out.missing:
        out.failures.append(f"{len(out.missing)} baseline row(s) missing from the new tree")
    for cond in sorted(set(brules) & set(nrules)):
        if brules[cond] != nrules[cond]:
            out.notes.append(f"condition {cond!r}: rule column {sorted(brules[cond])} -> {sorted(nrules[cond])}")

    bc, nc = base.counts(), new.counts()
    if bc is None or nc is None:
        out.failures.append("the run summary line (N run(s) computed (d done, v diverged, f failed)) was not printed by "
                            + " and ".join(t for t, c in (("the baseline", bc), ("the new tree", nc)) if c is None))
    elif bc != nc:
        out.failures.append(f"run outcomes differ: baseline {bc}, new {nc}")
    bt, nt = base.target_lines(), new.target_lines()
    if rtol is not None:
        bt, nt = [verdict_of(x) for x in bt], [verdict_of(x) for x in nt]
    if bt != nt:
        out.failures.append("published-target " + ("verdicts" if rtol is not None else "lines") + " differ")
        out.notes += [f"baseline: {x}" for x in bt if x not in nt] + [f"new:      {x}" for x in nt if x not in bt]
    out.notes.insert(0, f"targets: {len(bt)} line(s){', unchanged' if bt == nt else ''}")
    return out


def fmt(x: float) -> str:
    return repr(x) if not math.isnan(x) else "nan"


def report(o: Outcome) -> str:
    """The short table printed for one protocol."""
    timing = " ".join(f"{t} {r.wall_s:.1f} s{' (kept)' if r.reused else ''}" for t, r in (("baseline", o.base), ("new", o.new)) if r)
    lines = [f"== {o.name}  [{o.mode}]  {timing}"]
    if o.compared or o.new_rows or o.missing:
        row = f"   rows compared {o.compared:>7}   identical {o.identical:>7}"
        if o.mode != "strict":
            row += f"   step-0 within tol {o.within:>5}"
        row += f"   differing {len(o.differing):>5}   missing {len(o.missing):>5}   new {sum(o.new_rows.values()):>5}"
        lines.append(row)
    for key, b, n, rel in o.differing[:SHOWN]:
        lines.append(f"   differs  {'/'.join(key[1:])}: baseline {fmt(b)}  new {fmt(n)}  (rel {rel:.3g})")
    if len(o.differing) > SHOWN:
        lines.append(f"   ... and {len(o.differing) - SHOWN} more differing row(s)")
    for key in o.missing[:SHOWN]:
        lines.append(f"   missing  {'/'.join(key[1:])}")
    if o.new_rows:
        lines.append("   new rows " + ", ".join(f"{m}[{lay}] x{c}" for (m, lay), c in sorted(o.new_rows.items())))
    if o.mode != "strict" and o.later_max[2] is not None:
        d, rel, key = o.later_max
        lines.append(f"   later steps: largest difference {d:.3g} (rel {rel:.3g}) at {'/'.join(key[1:])}")
    elif o.mode != "strict" and o.compared:
        lines.append("   later steps: all identical")
    lines += [f"   {n}" for n in o.notes]
    lines.append("   OK" if o.ok else "   FAIL: " + "; ".join(o.failures))
    return "\n".join(lines)


def summary(outcomes: list[Outcome]) -> str:
    head = f"{'protocol':34s} {'mode':9s} {'compared':>8s} {'differ':>6s} {'missing':>7s} {'new':>5s} {'base s':>7s} {'new s':>7s}  result"
    lines = ["", head, "-" * len(head)]
    for o in outcomes:
        lines.append(f"{o.name:34s} {o.mode.split()[0]:9s} {o.compared:8d} {len(o.differing):6d} {len(o.missing):7d} "
                     f"{sum(o.new_rows.values()):5d} {o.base.wall_s if o.base else math.nan:7.1f} "
                     f"{o.new.wall_s if o.new else math.nan:7.1f}  {'OK' if o.ok else 'FAIL'}")
    bad = [o.name for o in outcomes if not o.ok]
    lines.append(f"{len(outcomes) - len(bad)} of {len(outcomes)} protocol(s) match" + (f"; differing: {', '.join(bad)}" if bad else "."))
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="compare_results", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("baseline", metavar="BASELINE_COMMIT", help="commit (hash, tag or branch) whose results are the reference")
    p.add_argument("--protocols", nargs="+", metavar="NAME", help="only these protocols (names of the baseline's protocols/*.py)")
    p.add_argument("--store-dir", default=str(Path.home() / ".cache" / "bioplaus" / "compare-results"),
                   help="where stores, CSV exports and logs are kept (default ~/.cache/bioplaus/compare-results)")
    p.add_argument("--reuse-baseline", action="store_true", help="keep the baseline runs already finished in --store-dir for this commit")
    p.add_argument("--new-tree", metavar="PATH", help="the tree to check (default: the repository holding this script)")
    p.add_argument("--scripts", choices=["baseline", "own"], default="baseline",
                   help="run the baseline commit's protocol scripts in both trees (default), or each tree's own")
    p.add_argument("--tolerant", action="append", default=[], metavar="NAME[=RTOL]",
                   help="compare this protocol in the tolerant mode (repeatable); RTOL overrides --rtol for it")
    p.add_argument("--rtol", type=float, default=1e-12, help="relative tolerance at step 0 in the tolerant mode (default 1e-12)")
    p.add_argument("--atol", type=float, default=0.0, help="absolute tolerance at step 0 in the tolerant mode (default 0)")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed for one protocol run (default 3600)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    new_tree = Path(args.new_tree or Path(__file__).resolve().parent.parent).resolve()
    if not (new_tree / "bioplaus").is_dir():
        raise UsageError(f"--new-tree {new_tree}: not a bioplaus tree (no bioplaus/ folder in it).")
    try:
        commit = git(new_tree, "rev-parse", "--verify", "--quiet", f"{args.baseline}^{{commit}}")
    except UsageError:
        raise UsageError(f"BASELINE_COMMIT {args.baseline}: not a commit of the repository at {new_tree}.") from None
    shipped = sorted(Path(p).stem for p in git(new_tree, "ls-tree", "--name-only", commit, "protocols/").splitlines()
                     if p.endswith(".py") and not Path(p).name.startswith("_"))
    names = args.protocols or shipped
    unknown = [n for n in names if n not in shipped]
    if unknown:
        raise UsageError(f"--protocols {unknown[0]}: not a protocol of commit {commit[:12]}; allowed values are {', '.join(shipped)}.")
    tolerant: dict[str, float] = {}
    for spec in args.tolerant:
        name, _, rtol = spec.partition("=")
        if name not in shipped:
            raise UsageError(f"--tolerant {spec}: {name!r} is not a protocol of commit {commit[:12]}; allowed values are {', '.join(shipped)}.")
        try:
            tolerant[name] = float(rtol) if rtol else args.rtol
        except ValueError:
            raise UsageError(f"--tolerant {spec}: the tolerance after '=' must be a number such as 1e-6.") from None

    store_dir = Path(args.store_dir).resolve()
    base_dir = store_dir / f"baseline-{commit}"
    new_dir = store_dir / f"new-{new_tree.name}"
    scripts_dir = base_dir / "protocols"
    for d in (base_dir, new_dir, scripts_dir):
        d.mkdir(parents=True, exist_ok=True)
    for n in names:  # the baseline commit's scripts, kept beside its results
        (scripts_dir / f"{n}.py").write_text(git(new_tree, "show", f"{commit}:protocols/{n}.py") + "\n")

    print(f"baseline {commit[:12]} -> {base_dir}\nnew tree {new_tree} ({check_import(new_tree)}) -> {new_dir}\n"
          f"python {sys.executable}; scripts: {args.scripts}'s\n", flush=True)
    base_tree: Path | None = None
    outcomes = []
    try:
        for name in names:
            base = recorded_run(base_dir, name) if args.reuse_baseline else None
            if base is None:
                if base_tree is None:
                    base_tree = Path(tempfile.mkdtemp(prefix="bioplaus-baseline-")) / "tree"
                    git(new_tree, "worktree", "add", "--detach", str(base_tree), commit)
                    print(f"baseline worktree {base_tree} ({check_import(base_tree)})", flush=True)
                base = run_protocol(base_tree, scripts_dir / f"{name}.py", base_dir, name, args.timeout)
            own = new_tree / "protocols" / f"{name}.py"
            if args.scripts == "own" and not own.is_file():
                o = Outcome(name, "strict", base, None, failures=[f"{own} does not exist (--scripts own)"])
            else:
                script = own if args.scripts == "own" else scripts_dir / f"{name}.py"
                new = run_protocol(new_tree, script, new_dir, name, args.timeout)
                hint = " -- if the protocol API changed on purpose, try --scripts own" if args.scripts == "baseline" else ""
                o = compare(name, base, new, tolerant.get(name), args.atol, hint)
            outcomes.append(o)
            print(report(o), flush=True)
    finally:
        if base_tree is not None:
            git(new_tree, "worktree", "remove", "--force", str(base_tree))
            shutil.rmtree(base_tree.parent, ignore_errors=True)
    print(summary(outcomes))
    print("load average (1, 5, 15 min) at the end: {:.2f} {:.2f} {:.2f} on {} CPU(s)".format(*os.getloadavg(), os.cpu_count()))
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UsageError as e:
        print(f"compare_results: error: {e}", file=sys.stderr)
        sys.exit(2)
