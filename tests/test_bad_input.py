"""Bad input is reported in one paragraph that names what is wrong, with exit status 2 and no traceback.

Most cases call ``bioplaus.cli.main`` in this process (fast); the cases where the real
exit status and stderr of the console program matter run it in a subprocess.
"""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bioplaus.cli import main
from bioplaus.tasks import write_idx

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_protocol.py"

GOOD_SPEC = """\
kind = "feedforward"
sizes = [30, 20, 10]
activations = ["linear", "linear"]
bias = false
init = "uniform"
init_scale = 0.01
"""


def protocol_script(tmp_path: Path, model: str = '"linear_30_20_10"', rules: str = '["backprop"]', task: str = "tasks.LinearTeacher(n_in=30, n_out=10, n_test=50)", name: str = "bad") -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(
        f'''"""A protocol for bad-input tests."""
from bioplaus import Protocol, rules, tasks

protocol = Protocol(
    name="{name}",
    task={task},
    model={model},
    rules={rules},
    seeds=range(1),
    steps=10,
    batch_size=10,
    record_every=5,
    metrics=["loss"],
)
'''
    )
    return path


def spec_protocol(tmp_path: Path, spec_text: str) -> Path:
    """A protocol that loads ``tmp_path/models/x.toml`` by path."""
    spec = tmp_path / "models" / "x.toml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text(spec_text)
    return protocol_script(tmp_path, model=repr(str(spec)))


def fails_cleanly(capsys, argv: list[str], *needles: str) -> str:
    """Run ``bioplaus ARGV`` in this process; it must exit 2 with one paragraph naming each of ``needles``."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's errors exit from inside the parser
        code = e.code
    out, err = capsys.readouterr()
    assert code == 2, f"exit status {code}; stderr: {err}"
    assert "Traceback" not in err
    text = err.strip()
    assert text.startswith("bioplaus"), err
    assert "\n" not in text, f"not one paragraph:\n{err}"
    for needle in needles:
        assert needle in text, f"{needle!r} not in: {text}"
    return text


def store_snapshot(path: Path) -> tuple[list, list, dict[str, str]]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        runs = con.execute("SELECT * FROM runs ORDER BY id").fetchall()
        metrics = con.execute("SELECT rowid, * FROM metrics ORDER BY rowid").fetchall()
    finally:
        con.close()
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.with_name(path.name + ".arrays").glob("*"))}
    return runs, metrics, files


def run_argv(script: Path, store: Path, *extra: str) -> list[str]:
    return ["run", str(script), "--store", str(store), "--no-progress", "--no-figure", *extra]


# -- model specs -------------------------------------------------------------------------


def test_unknown_field_in_model_spec(tmp_path, capsys):
    script = spec_protocol(tmp_path, GOOD_SPEC + 'colour = "red"\n')
    fails_cleanly(capsys, run_argv(script, tmp_path / "s.sqlite"), "x.toml", "'colour'", "allowed fields", "'sizes'")
    assert not (tmp_path / "s.sqlite").exists()


def test_wrong_type_in_model_spec(tmp_path, capsys):
    script = spec_protocol(tmp_path, GOOD_SPEC.replace("sizes = [30, 20, 10]", 'sizes = "abc"'))
    fails_cleanly(capsys, run_argv(script, tmp_path / "s.sqlite"), "x.toml", "'sizes'", "abc", "list of positive integers")


def test_unknown_activation_in_model_spec(tmp_path, capsys):
    script = spec_protocol(tmp_path, GOOD_SPEC.replace('["linear", "linear"]', '["softplus", "linear"]'))
    fails_cleanly(capsys, run_argv(script, tmp_path / "s.sqlite"), "x.toml", "'activations'", "softplus", "'tanh'", "'relu'")


def test_invalid_toml_syntax_in_model_spec(tmp_path, capsys):
    script = spec_protocol(tmp_path, GOOD_SPEC.replace("sizes = [30, 20, 10]", "sizes = [30, 20, 10"))
    fails_cleanly(capsys, run_argv(script, tmp_path / "s.sqlite"), "x.toml", "not valid TOML")


# -- protocol scripts --------------------------------------------------------------------


def test_unknown_rule_name_keeps_the_stores_runs(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(run_argv(TINY, store)) == 0
    before = store_snapshot(store)
    assert len(before[0]) == 6 and before[1]
    script = protocol_script(tmp_path, rules='["fedback_alignment"]', name="tiny")
    fails_cleanly(capsys, run_argv(script, store), str(script), "'fedback_alignment'", "'feedback_alignment'", "'backprop'")
    assert store_snapshot(store) == before


def test_missing_protocol_file(tmp_path, capsys):
    missing = tmp_path / "nothere.py"
    fails_cleanly(capsys, run_argv(missing, tmp_path / "s.sqlite"), str(missing), "not found")


def test_protocol_script_without_protocol(tmp_path, capsys):
    script = tmp_path / "empty.py"
    script.write_text('"""No protocol here."""\nx = 1\n')
    fails_cleanly(capsys, run_argv(script, tmp_path / "s.sqlite"), str(script), "'protocol'")


def test_protocol_that_is_not_a_protocol(tmp_path, capsys):
    script = tmp_path / "wrong.py"
    script.write_text('protocol = {"name": "x"}\n')
    fails_cleanly(capsys, run_argv(script, tmp_path / "s.sqlite"), str(script), "dict", "not a bioplaus.Protocol")


def raising_script(tmp_path: Path) -> Path:
    script = tmp_path / "raises.py"
    script.write_text('"""Raises while running."""\nraise ValueError("flux capacitor missing")\n')
    return script


def test_protocol_script_that_raises_console_program(tmp_path):
    """The real console program: exit 2, one paragraph naming the script and the error, no traceback."""
    script = raising_script(tmp_path)
    r = subprocess.run([sys.executable, "-m", "bioplaus.cli", *run_argv(script, tmp_path / "s.sqlite")], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    text = r.stderr.strip()
    assert "\n" not in text and str(script) in text and "ValueError" in text and "flux capacitor missing" in text
    assert not (tmp_path / "s.sqlite").exists()


def test_debug_shows_the_traceback(tmp_path):
    script = raising_script(tmp_path)
    r = subprocess.run(
        [sys.executable, "-m", "bioplaus.cli", "--debug", *run_argv(script, tmp_path / "s.sqlite")], capture_output=True, text=True
    )
    assert r.returncode == 2
    assert "Traceback (most recent call last)" in r.stderr
    assert "flux capacitor missing" in r.stderr.splitlines()[-1]


# -- stores and options ------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "results"])
def test_store_that_is_not_sqlite(tmp_path, capsys, command):
    store = tmp_path / "junk.sqlite"
    junk = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    store.write_bytes(junk)
    argv = run_argv(TINY, store) if command == "run" else ["results", str(store)]
    fails_cleanly(capsys, argv, str(store), "not a bioplaus store")
    assert store.read_bytes() == junk


def test_store_path_under_a_regular_file(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    store = blocker / "s.sqlite"
    fails_cleanly(capsys, run_argv(TINY, store), str(blocker))
    assert blocker.read_text() == "not a folder\n"


def test_figure_out_that_is_a_regular_file(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(run_argv(TINY, store)) == 0
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    fails_cleanly(capsys, ["figure", str(DATA / "tiny_figure.py"), "--store", str(store), "--out", str(blocker)], str(blocker), "--out")
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_workers_must_be_positive(tmp_path, capsys, workers):
    fails_cleanly(capsys, run_argv(TINY, tmp_path / "s.sqlite", "--workers", workers), "--workers", "positive integer", workers)
    assert not (tmp_path / "s.sqlite").exists()


def test_missing_figure_script(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(run_argv(TINY, store)) == 0
    missing = tmp_path / "nofigure.py"
    fails_cleanly(capsys, ["figure", str(missing), "--store", str(store), "--out", str(tmp_path / "out")], str(missing), "not found")
    assert not (tmp_path / "out").exists()


def test_device_cuda_without_cuda(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fails_cleanly(capsys, run_argv(TINY, tmp_path / "s.sqlite", "--device", "cuda"), "--device cuda", "CUDA", "--device cpu")
    assert not (tmp_path / "s.sqlite").exists()


# -- MNIST data --------------------------------------------------------------------------


def mnist_protocol(tmp_path: Path) -> Path:
    spec = tmp_path / "models" / "mnist_linear.toml"
    spec.parent.mkdir(exist_ok=True)
    spec.write_text('sizes = [784, 10]\nactivations = ["linear"]\n')
    return protocol_script(tmp_path, model=repr(str(spec)), task="tasks.MNIST()", name="mnist_bad")


def mnist_folder(folder: Path, corrupt: str | None = None) -> Path:
    """Four small valid IDX files; ``corrupt`` (a file name) gets a wrong magic number."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", rng.integers(0, 10, 20, dtype=np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, 10, dtype=np.uint8))
    if corrupt is not None:
        raw = bytearray((folder / corrupt).read_bytes())
        raw[:4] = b"\x12\x34\x56\x78"
        (folder / corrupt).write_bytes(bytes(raw))
    return folder


def test_corrupt_idx_file_keeps_the_stores_runs(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(run_argv(TINY, store)) == 0
    before = store_snapshot(store)
    folder = mnist_folder(tmp_path / "mnist", corrupt="t10k-labels-idx1-ubyte")
    fails_cleanly(
        capsys, run_argv(mnist_protocol(tmp_path), store, "--data-dir", str(folder)),
        "t10k-labels-idx1-ubyte", "not an IDX file", "12345678",
    )
    assert store_snapshot(store) == before


def test_mnist_folder_missing_a_file(tmp_path, capsys):
    folder = mnist_folder(tmp_path / "mnist")
    (folder / "train-labels-idx1-ubyte").unlink()
    fails_cleanly(capsys, run_argv(mnist_protocol(tmp_path), tmp_path / "s.sqlite", "--data-dir", str(folder)), str(folder), "train-labels-idx1-ubyte")


def test_mnist_without_data_dir(tmp_path, capsys):
    fails_cleanly(capsys, run_argv(mnist_protocol(tmp_path), tmp_path / "s.sqlite"), "mnist", "--data-dir")


def test_mnist_data_dir_that_does_not_exist(tmp_path, capsys):
    missing = tmp_path / "no-mnist-here"
    fails_cleanly(capsys, run_argv(mnist_protocol(tmp_path), tmp_path / "s.sqlite", "--data-dir", str(missing)), str(missing), "--data-dir")


# -- a table of further malformed inputs: each fails cleanly and leaves a populated store untouched ----


@pytest.fixture(scope="module")
def populated_store(tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("populated") / "s.sqlite"
    assert main(run_argv(TINY, store, "--quick")) == 0
    return store


def _spec_case(edit: tuple[str, str]):
    def make(tmp_path: Path) -> list[str]:
        return ["run", str(spec_protocol(tmp_path, GOOD_SPEC.replace(*edit)))]
    return make


def _protocol_case(**fields: str):
    def make(tmp_path: Path) -> list[str]:
        return ["run", str(protocol_script(tmp_path, **fields))]
    return make


def _protocol_field_case(old: str, new: str):
    def make(tmp_path: Path) -> list[str]:
        script = protocol_script(tmp_path)
        script.write_text(script.read_text().replace(old, new))
        return ["run", str(script)]
    return make


def _idx_case(mutate):
    def make(tmp_path: Path) -> list[str]:
        folder = mnist_folder(tmp_path / "mnist")
        mutate(folder)
        return ["run", str(mnist_protocol(tmp_path)), "--data-dir", str(folder)]
    return make


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def _relabel(folder: Path) -> None:  # 9 test labels for 10 test images
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(9, dtype=np.uint8))


MALFORMED = {
    # model specs (TOML)
    "spec: negative size": (_spec_case(("sizes = [30, 20, 10]", "sizes = [30, -20, 10]")), ["x.toml", "'sizes'", "positive integers"]),
    "spec: activations of the wrong length": (_spec_case(('["linear", "linear"]', '["linear"]')), ["x.toml", "'activations'", "one entry per weight layer"]),
    "spec: unknown kind": (_spec_case(('kind = "feedforward"', 'kind = "transformer"')), ["x.toml", "'kind'", "transformer", "'feedforward'"]),
    "spec: unknown init": (_spec_case(('init = "uniform"', 'init = "zeros"')), ["x.toml", "'init'", "zeros", "'xavier_uniform'"]),
    "spec: non-positive init_scale": (_spec_case(("init_scale = 0.01", "init_scale = -1.0")), ["x.toml", "'init_scale'", "positive"]),
    "spec: missing sizes": (_spec_case(("sizes = [30, 20, 10]\n", "")), ["x.toml", "'sizes'", "missing"]),
    "spec: layer named all": (_spec_case(("bias = false", 'bias = false\nlayer_names = ["all", "output"]')), ["x.toml", "'layer_names'", "'all'"]),
    "spec: bias as a string": (_spec_case(("bias = false", 'bias = "no"')), ["x.toml", "'bias'", "true or false"]),
    # protocol scripts
    "protocol: model does not fit the task": (_protocol_case(task="tasks.LinearTeacher(n_in=12, n_out=10)"), ["'model'", "30", "12 inputs"]),
    "protocol: negative seed": (_protocol_field_case("seeds=range(1)", "seeds=[-1]"), ["'seeds'", "non-negative"]),
    "protocol: unknown optimizer": (_protocol_field_case("record_every=5,", 'record_every=5, optimizer=("lbfgs", {}),'), ["'optimizer'", "lbfgs", "'sgd'"]),
    "protocol: unknown metric": (_protocol_field_case('metrics=["loss"]', 'metrics=["loss", "accuracy"]'), ["'metrics'", "'accuracy'", "'test_accuracy'"]),
    "protocol: quick sets an unknown field": (_protocol_field_case("record_every=5,", "record_every=5, quick=dict(epochs=3),"), ["'quick'", "epochs"]),
    "protocol: two conditions with one label": (_protocol_case(rules='["backprop", "backprop"]'), ["'rules'", "distinct", "label="]),
    "protocol: negative steps": (_protocol_field_case("steps=10,", "steps=-5,"), ["'steps'", "-5"]),
    "protocol: syntax error": (_protocol_field_case("steps=10,", "steps=10,,"), ["bad.py", "SyntaxError"]),
    # command-line arguments
    "cli: workers not a number": (lambda tmp_path: ["run", str(TINY), "--workers", "two"], ["--workers", "'two'"]),
    "cli: unknown executor": (lambda tmp_path: ["run", str(TINY), "--executor", "slurm"], ["--executor", "slurm", "'ray'"]),
    "cli: address with the pool executor": (lambda tmp_path: ["run", str(TINY), "--executor", "pool", "--address", "10.0.0.1:6379"], ["--address", "--executor ray"]),
    "cli: serial executor with two workers": (lambda tmp_path: ["run", str(TINY), "--executor", "serial", "--workers", "2"], ["--executor serial", "--workers 2", "pool"]),
    "cli: unknown bench suite": (lambda tmp_path: ["bench", "gpu"], ["'gpu'", "'rules'"]),
    "cli: unknown results format": (lambda tmp_path: ["results", "--format", "xml"], ["--format", "xml", "'csv'"]),
    # IDX files
    "idx: truncated header": (_idx_case(lambda f: _truncate(f / "train-images-idx3-ubyte", 6)), ["train-images-idx3-ubyte", "truncated"]),
    "idx: truncated data": (_idx_case(lambda f: _truncate(f / "train-images-idx3-ubyte", 500)), ["train-images-idx3-ubyte"]),
    "idx: wrong magic number": (_idx_case(lambda f: (f / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x00\x00" + (f / "train-labels-idx1-ubyte").read_bytes()[4:])), ["train-labels-idx1-ubyte", "IDX"]),
    "idx: labels and images disagree": (_idx_case(_relabel), ["t10k", "10", "9"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_fails_cleanly_and_loses_nothing(case, tmp_path, capsys, populated_store):
    make, needles = MALFORMED[case]
    store = tmp_path / "s.sqlite"
    store.write_bytes(populated_store.read_bytes())
    before = store_snapshot(store)
    argv = make(tmp_path)
    if argv[0] in ("run", "results"):
        argv = [*argv, "--store", str(store)] + (["--no-progress", "--no-figure"] if argv[0] == "run" else [])
    fails_cleanly(capsys, argv, *needles)
    assert store_snapshot(store) == before


def _truncated_store(store: Path) -> None:
    _truncate(store, 1500)


def _foreign_database(store: Path) -> None:
    store.unlink()
    con = sqlite3.connect(store)
    con.execute("CREATE TABLE patients (id INTEGER, name TEXT)")
    con.execute("PRAGMA user_version = 7")
    con.commit()
    con.close()


def _tables_without_version(store: Path) -> None:
    con = sqlite3.connect(store)
    con.execute("PRAGMA user_version = 0")
    con.commit()
    con.close()


@pytest.mark.parametrize("damage, needles", [
    (_truncated_store, ["not a bioplaus store"]),
    (_foreign_database, ["schema version 7", "newer bioplaus"]),
    (_tables_without_version, ["not a bioplaus store", "schema version 0"]),
])
@pytest.mark.parametrize("command", ["run", "results"])
def test_damaged_store_file_is_refused_and_left_as_it_was(damage, needles, command, tmp_path, capsys, populated_store):
    store = tmp_path / "s.sqlite"
    store.write_bytes(populated_store.read_bytes())
    damage(store)
    content = store.read_bytes()
    argv = run_argv(TINY, store) if command == "run" else ["results", str(store)]
    fails_cleanly(capsys, argv, str(store), *needles)
    assert store.read_bytes() == content
