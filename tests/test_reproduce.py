"""``bioplaus reproduce``: every shipped target beside its measurement, and broken protocols reported, not fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioplaus import PublishedTarget
from bioplaus.cli import main
from bioplaus.report import measured
from bioplaus.reproduce import reproduce
from bioplaus.store import Store

DATA = Path(__file__).parent / "data"


def targeted_protocol(path: Path, value: str, tolerance: str = "None") -> Path:
    path.write_text(
        f'''"""A tiny protocol with a published target, for the report tests."""
from bioplaus import Protocol, PublishedTarget, rules, tasks

protocol = Protocol(
    name="{path.stem}",
    task=tasks.LinearTeacher(n_in=30, n_out=10, n_test=100),
    model="linear_30_20_10",
    rules=[rules.Backprop(), rules.FeedbackAlignment(scale=0.5)],
    seeds=range(2),
    steps=200,
    batch_size=20,
    optimizer=("sgd", {{"lr": 1e-2}}),
    record_every=50,
    metrics=["loss", "update_angle"],
    target=PublishedTarget(paper="Somebody 2020", where="Fig. 9", metric="update_angle", layer="hidden1",
                           rule="feedback_alignment", value="{value}", tolerance={tolerance}, proxy=True,
                           published_on="a bigger network"),
)
'''
    )
    return path


def test_report_sets_each_target_beside_its_measurement_and_survives_a_broken_protocol(tmp_path):
    inside = targeted_protocol(tmp_path / "inside.py", "< 90")
    outside = targeted_protocol(tmp_path / "outside.py", "5", tolerance="1.0")
    broken = tmp_path / "broken.py"
    broken.write_text('raise RuntimeError("no such dataset")\n')
    untargeted = DATA / "tiny_protocol.py"
    out = tmp_path / "report" / "R.md"
    entries, status = reproduce([inside, broken, outside, untargeted], tmp_path / "s.sqlite", out, progress=False)
    assert status == 1  # the broken protocol
    text = out.read_text()
    with Store(tmp_path / "s.sqlite", create=False) as store:
        assert set(store.protocols()) == {"inside", "outside"}  # the untargeted one is not run
        for name, verdict in (("inside", "| pass |"), ("outside", "| **fail** |")):
            t = next(e for e in entries if e.protocol is not None and e.protocol.name == name).rows[0][0]
            mean, sd, n = measured(store, name, t)
            assert n == 2
            row = next(line for line in text.splitlines() if line.startswith(f"| {name} |"))
            assert verdict in row and "proxy" in row and "a bigger network" in row and f"(n={n})" in row
    assert "5 ± 1" in text
    assert "| broken | | | | | **error** (see below) | | |" in text
    assert "no such dataset" in text
    assert "Declares no published target; not run." in text


def test_reproduce_exit_status_is_1_when_a_claim_fails_and_0_when_all_pass(tmp_path):
    passing = targeted_protocol(tmp_path / "passing.py", "< 90")
    failing = targeted_protocol(tmp_path / "failing.py", "> 90")
    assert reproduce([passing], tmp_path / "s.sqlite", tmp_path / "R.md", progress=False)[1] == 0
    entries, status = reproduce([failing], tmp_path / "s.sqlite", tmp_path / "R2.md", progress=False)
    assert status == 1 and entries[0].claims_failed == 1 and entries[0].rows[0][1].verdict == "fail"


def test_reproduce_only_an_unknown_protocol_names_the_shipped_ones(tmp_path, capsys):
    assert main(["reproduce", "--only", "nonesuch", "--store", str(tmp_path / "s.sqlite")]) == 2
    err = capsys.readouterr().err
    assert "nonesuch" in err and "'lillicrap2016_linear'" in err and "Traceback" not in err
    assert not (tmp_path / "s.sqlite").exists()


def test_reproduce_quick_lillicrap_through_the_cli(tmp_path, capsys):
    out = tmp_path / "R.md"
    assert main(["reproduce", "--quick", "--only", "lillicrap2016_linear", "--store", str(tmp_path / "s.sqlite"),
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    claims = [line for line in printed.splitlines() if line.startswith("lillicrap2016_linear: ")]
    assert len(claims) == 5 and all(line.endswith(": pass") for line in claims), printed
    assert "lillicrap2016_linear: update_angle[hidden1] of feedback_alignment < 45: measured " in printed
    text = out.read_text()
    assert "![lillicrap2016_linear](figures/lillicrap2016_linear.png)" in text
    assert (tmp_path / "figures" / "lillicrap2016_linear.png").stat().st_size > 0


@pytest.mark.parametrize("value, tolerance, measured_value, expected", [
    ("< 90", None, 89.0, True), ("< 90", None, 91.0, False), (">= 0.9", None, 0.9, True),
    ("45", 5.0, 49.9, True), ("45", 5.0, 50.1, False), ("~ 45", 5.0, 41.0, True),
    ("45", None, 45.0, None), ("0.979 (MNIST)", 0.01, 0.979, None),
])
def test_published_target_check(value, tolerance, measured_value, expected):
    t = PublishedTarget(paper="p", where="w", metric="m", value=value, proxy=False, tolerance=tolerance)
    assert t.check(measured_value) is expected


def test_a_run_on_the_papers_data_is_no_proxy():
    """``proxy`` describes the default run; with --data-dir a ByDataDir protocol runs the paper's data."""
    from bioplaus.protocol import load_protocol
    from bioplaus.report import is_proxy

    switching = load_protocol("protocols/scellier2017_digits.py")
    fixed = load_protocol("protocols/fa_digits.py")
    target = PublishedTarget(paper="p", where="w", metric="m", value="1", proxy=True)
    assert is_proxy(target, switching, None)
    assert not is_proxy(target, switching, "/some/mnist")
    assert is_proxy(target, fixed, "/some/mnist")  # its task ignores --data-dir: still a stand-in
    assert not is_proxy(PublishedTarget(paper="p", where="w", metric="m", value="1", proxy=False), switching, None)
