"""The ``bioplaus`` command line: run, results, figure, list, bench, reproduce, tune.

Errors in the user's input print one paragraph and exit with status 2; ``--debug``
shows the traceback. ``--help``, ``list``, ``results`` and argument errors import neither
torch nor Brian2 nor a rule module: each command imports what it needs when it runs
(``tests/test_first_hour.py`` checks this).
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings
from pathlib import Path

from bioplaus.errors import BioplausError, allowed

REPO_ROOT = Path(__file__).resolve().parent.parent


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line + usage hint, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help').\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bioplaus", description="Simulate biologically plausible learning rules and measure how close they come to gradient descent.")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    store_help = "results store (default: $BIOPLAUS_STORE or ./bioplaus-results/bioplaus.sqlite)"
    r = sub.add_parser("run", help="run a protocol script into a store")
    r.add_argument("protocol", help="path to a protocol script, e.g. protocols/lillicrap2016_linear.py")
    r.add_argument("--quick", action="store_true", help="the protocol's quick version (under a minute)")
    r.add_argument("--store", help=store_help)
    r.add_argument("--workers", type=_positive_int, default=1, help="parallel workers (default 1: run in this process)")
    r.add_argument("--executor", choices=["serial", "pool", "ray"], default=None,
                   help="how runs are executed: serial (default for 1 worker), pool of processes (default for more), ray")
    r.add_argument("--address", metavar="HOST:PORT", help="with --executor ray: join this Ray cluster instead of starting a local one")
    r.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="torch device (default cpu)")
    r.add_argument("--data-dir", help="folder with data files (MNIST IDX files)")
    r.add_argument("--overwrite", action="store_true", help="replace finished runs made with a different configuration")
    r.add_argument("--no-figure", action="store_true", help="do not render the protocol's figure")
    r.add_argument("--no-progress", action="store_true", help="hide progress bars")

    s = sub.add_parser("results", help="print stored results as a summary table or tidy CSV")
    s.add_argument("store_pos", nargs="?", metavar="STORE", help="store file (or use --store)")
    s.add_argument("--store", help=store_help)
    s.add_argument("--protocol", help="only this protocol")
    s.add_argument("--format", choices=["table", "csv"], default="table")

    f = sub.add_parser("figure", help="render a figure script from a store to PDF and PNG")
    f.add_argument("script", help="path to a figure script defining make(store)")
    f.add_argument("--store", help=store_help)
    f.add_argument("--out", default=None, help="output folder (default: figures/ beside the store)")

    sub.add_parser("list", help="list shipped protocols, figures, models and rules")

    rp = sub.add_parser("reproduce", help="run every shipped protocol with a published target and write a Markdown report")
    length = rp.add_mutually_exclusive_group()
    length.add_argument("--quick", action="store_true", help="the protocols' quick versions")
    length.add_argument("--full", action="store_true", help="the protocols' full settings (the default; the opposite of --quick)")
    rp.add_argument("--only", action="append", metavar="NAME", help="only this protocol: a shipped protocol's name or a script path (repeatable)")
    rp.add_argument("--out", default=None, help="report file (default: REPRODUCTION.md beside the store)")
    rp.add_argument("--store", help="results store (default: bioplaus-results/reproduce.sqlite, or reproduce-quick.sqlite with --quick)")
    rp.add_argument("--workers", type=_positive_int, default=1, help="parallel workers per protocol (default 1)")
    rp.add_argument("--executor", choices=["serial", "pool", "ray"], default=None, help="as for 'run'")
    rp.add_argument("--data-dir", help="folder with data files (MNIST IDX files)")
    rp.add_argument("--no-progress", action="store_true", help="hide progress bars")
    rp.add_argument("--site", metavar="DIR", help="also write the gallery: a static site with one page per protocol run "
                    "and an index of every claim (docs/reproductions in the repository)")

    t = sub.add_parser("tune", help="run a protocol's step-size search and write its selection (NAME.tuned.json beside the script)")
    t.add_argument("protocol", help="path to a protocol script that declares tuning=StepSizeSearch(...)")
    t.add_argument("--store", help="results store for the search's runs (default: bioplaus-results/tuning.sqlite)")
    t.add_argument("--out", help="selection file to write (default: NAME.tuned.json beside the protocol script)")
    t.add_argument("--workers", type=_positive_int, default=1, help="parallel workers (default 1)")
    t.add_argument("--executor", choices=["serial", "pool", "ray"], default=None, help="as for 'run'")
    t.add_argument("--address", metavar="HOST:PORT", help="with --executor ray: join this Ray cluster")
    t.add_argument("--no-progress", action="store_true", help="hide progress bars")

    b = sub.add_parser("bench", help="measure training throughput and metric overhead")
    b.add_argument("suites", nargs="*", metavar="SUITE", help="benchmark suites to run (default: all): " + ", ".join(_bench_suites()))
    b.add_argument("--repeats", type=_positive_int, default=7, help="interleaved repetitions (default 7)")
    b.add_argument("--steps", type=_positive_int, default=60, help="training steps per measurement (default 60)")
    b.add_argument("--threads", type=_positive_int, default=1, help="torch threads (default 1)")
    return p


def _first_line(path: Path) -> str:
    import ast

    try:
        doc = ast.get_docstring(ast.parse(path.read_text()))
    except (SyntaxError, OSError):
        return ""
    if not doc:
        return ""
    paragraph = " ".join(line.strip() for line in doc.strip().split("\n\n")[0].splitlines())
    return paragraph if len(paragraph) <= 110 else paragraph[:107] + "..."


def cmd_run(args) -> int:
    if not args.no_progress:  # torch and the protocol take seconds to import: say that something is happening
        print(f"bioplaus run: loading {args.protocol} (torch and the protocol's modules) ...", file=sys.stderr, flush=True)
    import torch

    from bioplaus.execute import run_protocol
    from bioplaus.plotting import figure_for, render
    from bioplaus.protocol import load_protocol
    from bioplaus.report import summary_table, target_lines
    from bioplaus.store import Store, default_store_path

    if args.device == "cuda" and not torch.cuda.is_available():
        raise BioplausError("--device cuda: no CUDA device is available to torch here; use --device cpu.")
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise BioplausError(f"{args.data_dir}: --data-dir is not an existing folder.")
    protocol = load_protocol(args.protocol)
    if args.quick:
        if not protocol.quick:
            raise BioplausError(
                f"{args.protocol}: --quick, but protocol '{protocol.name}' sets no 'quick' overrides, so its quick version "
                f"would be the full run. Drop --quick to run it in full, or add e.g. quick=dict(steps=300, seeds=range(1)) "
                f"to the Protocol.")
        protocol = protocol.quick_version()
    store = Store(args.store or default_store_path())
    report = run_protocol(
        protocol, store, workers=args.workers, device=args.device, data_dir=args.data_dir,
        quick=args.quick, overwrite=args.overwrite, progress=not args.no_progress,
        executor=args.executor, address=args.address,
    )
    others = f", {report.by_others} computed by another sweep" if report.by_others else ""
    retried = f"; {report.retried} failure(s) retried once" if report.retried else ""
    print(f"{protocol.name}: {report.ran} run(s) computed ({report.done} done, {report.diverged} diverged, "
          f"{report.failed} failed), {report.skipped} already in the store{others}{retried}.")
    print()
    store.set_summary_columns(protocol.name, protocol.summary)
    print(summary_table(store, protocol.name, conditions=[c.label for c in protocol.conditions]))
    for line in target_lines(store, protocol, args.data_dir, quick=args.quick):
        print(line)
    print()
    print(f"store: {store.path}")
    fig = figure_for(protocol.source, protocol.name)
    if args.no_figure:
        pass
    elif fig is None:
        print(f"figure: none; no figure script figures/{protocol.name}.py beside the protocol's folder, here or in bioplaus "
              f"(write one with make(store), see README's 'Writing a figure').")
    else:
        pdf, png = render(fig, store, store.path.parent / "figures")
        print(f"figure: {png} (and {pdf.name})")
    store.close()
    return 1 if report.failed else 0


def cmd_tune(args) -> int:
    from bioplaus.protocol import load_protocol
    from bioplaus.search import run_search
    from bioplaus.store import Store
    from bioplaus.report import step_size_line

    protocol = load_protocol(args.protocol, tuned=False)
    if protocol.tuning is None:
        raise BioplausError(f"{args.protocol}: protocol '{protocol.name}' declares no step-size search; add "
                            f"tuning=StepSizeSearch(...) (bioplaus.tuning) to its Protocol.")
    store = Store(args.store or Path("bioplaus-results") / "tuning.sqlite")
    try:
        out, selection, report = run_search(protocol, store, workers=args.workers, executor=args.executor, address=args.address,
                                            progress=not args.no_progress, out=Path(args.out) if args.out else None)
    finally:
        store.close()
    print(f"{protocol.name}.tuning: {report.ran} run(s) computed, {report.skipped} already in the store ({store.path}).")
    print(step_size_line(protocol.with_selection(selection)))
    print(f"selection: {out}")
    return 0


def cmd_results(args) -> int:
    from bioplaus.report import summary_table
    from bioplaus.store import Store, default_store_path

    path = args.store_pos or args.store or default_store_path()
    store = Store(path, create=False)
    protocols = [args.protocol] if args.protocol else store.protocols()
    if args.protocol and args.protocol not in store.protocols():
        from bioplaus.errors import allowed

        raise BioplausError(f"{store.path}: no runs of protocol '{args.protocol}'; the store holds {allowed(store.protocols())}.")
    if args.format == "csv":
        cols = ["protocol", "condition", "rule", "seed", "step", "metric", "layer", "value"]
        frames = [store.metrics(protocol=p)[cols] for p in protocols]
        import pandas as pd

        df = pd.concat(frames) if frames else pd.DataFrame(columns=cols)
        df.to_csv(sys.stdout, index=False)
    else:
        if not protocols:
            print(f"{store.path}: the store holds no runs yet.")
        for p in protocols:
            print(summary_table(store, p))
            print()
    store.close()
    return 0


def cmd_figure(args) -> int:
    from bioplaus.plotting import load_figure_script, render
    from bioplaus.store import Store, default_store_path

    module = load_figure_script(args.script)  # a missing or broken script is reported before the store is opened
    store = Store(args.store or default_store_path(), create=False)
    out = args.out or store.path.parent / "figures"
    if Path(out).exists() and not Path(out).is_dir():
        raise BioplausError(f"{out}: --out must be a folder, but this is a file.")
    pdf, png = render(args.script, store, out, module)
    print(f"figure: {pdf}\nfigure: {png}")
    store.close()
    return 0


def scripts(folder: str, shipped_only: bool = False) -> list[Path]:
    """The ``*.py`` scripts in ``./<folder>`` and the shipped ``<folder>`` (the current directory's win)."""
    found: dict[str, Path] = {}
    for base in ((REPO_ROOT / folder,) if shipped_only else (Path.cwd() / folder, REPO_ROOT / folder)):
        if base.is_dir():
            for p in sorted(base.glob("*.py")):
                if not p.name.startswith("_"):
                    found.setdefault(p.name, p)
    return list(found.values())


def cmd_reproduce(args) -> int:
    from bioplaus.report import is_proxy
    from bioplaus.reproduce import reproduce

    shipped = scripts("protocols", shipped_only=True)
    chosen = shipped
    if args.only:
        names = {p.stem: p for p in shipped}
        chosen = []
        for n in dict.fromkeys(args.only):
            if n.endswith(".py") and Path(n).is_file():  # a user's own protocol script
                chosen.append(Path(n))
            elif n in names or Path(n).stem in names:
                chosen.append(names[Path(n).stem])
            else:
                raise BioplausError(f"--only {n}: neither a protocol script (path to an existing .py file) nor a shipped "
                                    f"protocol; shipped protocols are {allowed(sorted(names))}.")
    store = Path(args.store) if args.store else Path("bioplaus-results") / ("reproduce-quick.sqlite" if args.quick else "reproduce.sqlite")
    out = Path(args.out) if args.out else store.parent / ("REPRODUCTION-quick.md" if args.quick else "REPRODUCTION.md")
    site = Path(args.site) if args.site else None
    if site is not None and site.exists() and not site.is_dir():
        raise BioplausError(f"--site {site}: a file; --site takes the gallery's folder (e.g. docs/reproductions).")
    if site is not None and (site.resolve() == store.resolve().parent or site.resolve() in store.resolve().parents):
        raise BioplausError(f"--site {site}: holds the store {store}; keep the store outside the gallery (the gallery is "
                            "committed to git, the store is not).")
    if site is not None:
        try:
            site.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BioplausError(f"--site {site}: cannot create the gallery's folder ({e.strerror}).") from e
    from bioplaus.gallery import command_line

    entries, status = reproduce(chosen, store, out, quick=args.quick, workers=args.workers, executor=args.executor,
                                data_dir=args.data_dir, progress=not args.no_progress, site=site,
                                command=command_line(args.argv))
    for e in entries:
        name = e.protocol.name if e.protocol else e.script.stem
        if e.error:
            print(f"{name}: ERROR {e.error}")
        elif not e.rows:
            print(f"{name}: no claims, not run")
        for c, v in e.rows:
            reason = f" ({v.reason})" if v.reason else ""
            print(f"{name}: {c.statement()}: measured {v.measured}: {v.verdict}{reason}"
                  f"{' [proxy]' if is_proxy(c, e.protocol, args.data_dir) else ''}")
    print(f"report: {out}")
    if site is not None:
        print(f"gallery: {site / 'index.html'}")
    return status


def cmd_list(args) -> int:
    from bioplaus import model_files as models
    from bioplaus.rule_index import rule_index

    for title, folder in (("protocols", "protocols"), ("figures", "figures")):
        print(f"{title}:")
        for p in scripts(folder):
            print(f"  {p.stem:32s} {_first_line(p)}")
    print("models:")
    for name, path in models.available().items():  # the description only; specs are validated when a protocol uses them
        try:
            desc = str(models.load_toml(path).get("description", ""))
        except BioplausError as e:
            desc = f"(invalid: {e})"
        print(f"  {name:32s} {desc}  [{path}]")
    print("rules:")
    for entry in rule_index().values():
        print(f"  {entry.name:32s} {entry.title:26s} {entry.description}")
    return 0


def _bench_suites() -> list[str]:
    from bioplaus.bench import SUITES

    return list(SUITES)


def cmd_bench(args) -> int:
    from bioplaus import bench

    unknown = [s for s in args.suites if s not in bench.SUITES]
    if unknown:
        raise BioplausError(f"bench: unknown suite(s) {unknown}; allowed values are {allowed(bench.SUITES)}.")
    return bench.run(args.suites, repeats=args.repeats, steps=args.steps, threads=args.threads)


def _show_settings_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings about a protocol's settings (bioplaus.settings_check.SettingsWarning) as one line each."""
    if category.__name__ == "SettingsWarning":
        print(f"bioplaus: warning: {message}", file=sys.stderr)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with what reproduce produces
    warnings.showwarning = _show_settings_warning
    commands = {"run": cmd_run, "results": cmd_results, "figure": cmd_figure, "list": cmd_list, "bench": cmd_bench,
                "reproduce": cmd_reproduce, "tune": cmd_tune}
    try:
        return commands[args.command](args)
    except BioplausError as e:
        if args.debug:
            traceback.print_exc()
        print(f"bioplaus {args.command}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept in the store.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
