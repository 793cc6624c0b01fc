"""The ``bioplaus`` command line: list, run, figure, results."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from bioplaus.cli import main

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_protocol.py"
TINY_FIGURE = DATA / "tiny_figure.py"
CONDITIONS = ("backprop", "feedback_alignment", "shallow")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_tiny(store: Path, script: Path = TINY, *extra: str) -> int:
    return main(["run", str(script), "--store", str(store), "--no-progress", *extra])


def assert_pdf_and_png(folder: Path, stem: str) -> None:
    pdf, png = folder / f"{stem}.pdf", folder / f"{stem}.png"
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000


def test_list_names_the_shipped_protocol_rules_and_models(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    sections = {}
    current = None
    for line in out.splitlines():
        if not line.startswith(" "):
            current = line.rstrip(":")
            sections[current] = []
        else:
            sections[current].append(line.split()[0])
    assert "lillicrap2016_linear" in sections["protocols"]
    assert "lillicrap2016_linear" in sections["figures"]
    assert {"backprop", "feedback_alignment", "direct_feedback_alignment", "shallow"} <= set(sections["rules"])
    assert {"linear_30_20_10", "mlp_digits"} <= set(sections["models"])
    assert "invalid" not in out


def test_run_console_program_prints_a_summary_with_every_condition_and_the_store(tmp_path):
    store = tmp_path / "results" / "s.sqlite"
    r = subprocess.run(
        [sys.executable, "-m", "bioplaus.cli", "run", str(TINY), "--store", str(store), "--no-progress"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert "tiny: 6 run(s) computed (6 done, 0 diverged, 0 failed), 0 already in the store." in r.stdout
    table = r.stdout.splitlines()
    for condition in CONDITIONS:
        row = [line for line in table if line.startswith(condition + " ")]
        assert len(row) == 1 and row[0].split()[1] == "2", f"no summary row with 2 seeds for {condition}:\n{r.stdout}"
    assert f"store: {store}" in r.stdout
    assert store.is_file()


def test_figure_from_a_figure_script(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert run_tiny(store) == 0
    out = tmp_path / "out"
    capsys.readouterr()
    assert main(["figure", str(TINY_FIGURE), "--store", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert_pdf_and_png(out, "tiny_figure")
    assert str(out / "tiny_figure.png") in printed and str(out / "tiny_figure.pdf") in printed


def test_shipped_lillicrap_figure_from_a_tiny_run_of_its_protocol(tmp_path, capsys):
    script = tmp_path / "lillicrap2016_linear.py"
    script.write_text(TINY.read_text().replace('name="tiny"', 'name="lillicrap2016_linear"'))
    store = tmp_path / "s.sqlite"
    assert run_tiny(store, script) == 0
    assert "lillicrap2016_linear: 6 run(s) computed" in capsys.readouterr().out
    out = tmp_path / "figs"
    assert main(["figure", str(REPO / "figures" / "lillicrap2016_linear.py"), "--store", str(store), "--out", str(out)]) == 0
    assert_pdf_and_png(out, "lillicrap2016_linear")


def test_run_renders_the_figure_shipped_beside_the_protocol(tmp_path, capsys):
    (tmp_path / "protocols").mkdir()
    (tmp_path / "figures").mkdir()
    shutil.copy(TINY, tmp_path / "protocols" / "tiny.py")
    shutil.copy(TINY_FIGURE, tmp_path / "figures" / "tiny.py")
    store = tmp_path / "results" / "s.sqlite"
    assert run_tiny(store, tmp_path / "protocols" / "tiny.py") == 0
    assert f"figure: {tmp_path / 'results' / 'figures' / 'tiny.png'}" in capsys.readouterr().out
    assert_pdf_and_png(tmp_path / "results" / "figures", "tiny")


def test_results_takes_the_store_positionally_or_as_option(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert run_tiny(store, TINY, "--no-figure") == 0
    capsys.readouterr()
    assert main(["results", str(store)]) == 0
    positional = capsys.readouterr().out
    assert main(["results", "--store", str(store)]) == 0
    option = capsys.readouterr().out
    assert positional == option
    assert positional.startswith("tiny: ")
    for condition in CONDITIONS:
        assert f"\n{condition} " in positional
    assert main(["results", str(store), "--protocol", "tiny"]) == 0
    assert capsys.readouterr().out == positional
