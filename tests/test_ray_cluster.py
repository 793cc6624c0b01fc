"""Ray clusters as users run them: token authentication, jobs that carry their inputs, pinned threads.

The fast tests check each piece without a cluster. The slow one starts a two-node Ray
cluster on this machine (``ray start --head`` and ``ray start --address``, one CPU each,
token authentication on, the second node in another folder with ``OMP_NUM_THREADS=2``),
runs a protocol whose model spec lies beside it outside the repository, after moving that
folder away, and compares the store with a serial run's bit for bit.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bioplaus import ray_cluster
from bioplaus.cli import main
from bioplaus.errors import BioplausError
from bioplaus.protocol import config_hash, load_protocol
from bioplaus.store import Store
from bioplaus.tasks.idx import write_idx
from bioplaus.tasks.mnist import load_mnist
from bioplaus.threads import pinned_threads

#: tests that pickle with Ray's cloudpickle: skipped without the [ray] extra; .ci/run installs it and runs them (-m ray)
needs_ray = [pytest.mark.ray, pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                                 reason="Ray is not installed (pip install -e '.[ray]'; .ci/run does)")]

REPO = Path(__file__).resolve().parent.parent
KEY = ["condition", "seed", "step", "metric", "layer"]

SPEC = """kind = "feedforward"
description = "a spec that lives beside its protocol, outside the repository"
sizes = [64, 256, 256, 10]
activations = ["tanh", "tanh", "linear"]
init = "xavier_uniform"
"""

SCRIPT = '''"""A protocol outside the repository: its model spec beside it, a task class of its own."""
from dataclasses import dataclass
from pathlib import Path

from bioplaus import Protocol, models, rules, tasks


@dataclass
class WideTeacher(tasks.LinearTeacher):
    """Defined in this script, so a worker cannot import it: it must travel by value."""


protocol = Protocol(
    name="beside",
    task=WideTeacher(n_in=64, n_out=10, n_test=200),
    model=models.load(Path(__file__).with_name("wide_beside.toml")),
    rules=[rules.Backprop(), rules.FeedbackAlignment(), rules.DirectFeedbackAlignment()],
    seeds=range(2),
    steps={steps},
    batch_size=32,
    optimizer=("sgd", {{"lr": 1e-3}}),
    record_every=20,
    metrics=["loss", "test_loss", "update_angle", "weight_angle", "norm_ratio", "sign_concordance", "weight_distance"],
)
'''


def write_protocol(folder: Path, steps: int = 60) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "wide_beside.toml").write_text(SPEC)
    script = folder / "beside_protocol.py"
    script.write_text(SCRIPT.format(steps=steps))
    return script


class FakeRay:
    """Stands in for the ``ray`` module where a test needs only ``put`` (the value itself) and ``init``."""

    def __init__(self, init_error: BaseException | None = None):
        self.init_error = init_error

    def put(self, value):
        return value

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs):
        raise self.init_error


# -- threads --------------------------------------------------------------------------

def test_pinned_threads_pins_torch_and_every_blas_and_openmp_pool_then_restores_them():
    from threadpoolctl import threadpool_info

    before_torch = torch.get_num_threads()
    before_pools = {i["filepath"]: i["num_threads"] for i in threadpool_info()}
    for n in (1, 3):
        with pinned_threads(n):
            assert torch.get_num_threads() == n
            pools = threadpool_info()
            assert {i["user_api"] for i in pools} >= {"blas", "openmp"}  # NumPy's and SciPy's OpenBLAS, torch's OpenMP
            assert all(i["num_threads"] == n for i in pools), pools
    assert torch.get_num_threads() == before_torch
    assert {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["filepath"] in before_pools} == before_pools


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_pinned_threads_refuses_a_thread_count_that_is_not_a_positive_integer(bad):
    with pytest.raises(BioplausError, match="'threads' must be a positive integer"), pinned_threads(bad):
        pass


# -- token authentication -------------------------------------------------------------

def without(monkeypatch, name: str) -> None:
    """Unset ``name`` until the test ends, and unset it again then, whatever the test set it to.

    (``monkeypatch.delenv`` of an unset variable records nothing, so a value that the code
    under test sets would outlive the test.)"""
    monkeypatch.setenv(name, "")
    monkeypatch.delenv(name)


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    """A process with no Ray token anywhere and no RAY_AUTH_MODE; Ray's C++ core not loaded."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        without(monkeypatch, name)
    monkeypatch.delitem(sys.modules, "ray._raylet", raising=False)
    return tmp_path


def test_the_token_is_looked_for_where_ray_documents_it_in_rays_order(no_token, monkeypatch):
    assert ray_cluster.token_source() is None
    home_file = no_token / "home" / ".ray" / "auth_token"
    home_file.parent.mkdir(parents=True)
    home_file.write_text("from-home\n")
    assert ray_cluster.token_source() == f"the file {home_file}"
    named = no_token / "token"
    named.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(named))
    assert str(named) in ray_cluster.token_source() and "RAY_AUTH_TOKEN_PATH" in ray_cluster.token_source()
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert ray_cluster.token_source() == "the environment variable RAY_AUTH_TOKEN"


@pytest.mark.parametrize("content", [None, "  \n"])
def test_a_token_path_naming_a_missing_or_empty_file_is_an_error_not_a_crash(no_token, monkeypatch, content):
    named = no_token / "token"
    if content is not None:
        named.write_text(content)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(named))
    with pytest.raises(BioplausError, match="RAY_AUTH_TOKEN_PATH"):
        ray_cluster.token_source()


def test_token_mode_is_switched_on_only_when_a_token_is_found_and_no_mode_is_set(no_token, monkeypatch):
    assert ray_cluster.prepare_authentication() == ("disabled", None, False)
    assert "RAY_AUTH_MODE" not in os.environ
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret")
    mode, source, set_here = ray_cluster.prepare_authentication()
    assert (mode, set_here) == ("token", True) and os.environ["RAY_AUTH_MODE"] == "token" and "RAY_AUTH_TOKEN" in source
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # an explicit mode is the user's
    assert ray_cluster.prepare_authentication()[::2] == ("disabled", False)
    assert os.environ["RAY_AUTH_MODE"] == "disabled"


def refused(message: str) -> ConnectionError:
    """What ``ray.init(address=...)`` raises when the cluster refuses the token: the cause says why."""
    try:
        try:
            raise RuntimeError(message)
        except RuntimeError as cause:
            raise ConnectionError("Failed to connect to Ray cluster at 10.0.0.1:6379") from cause
    except ConnectionError as e:
        return e


@pytest.mark.parametrize("token", [None, "wrong"])
def test_a_refused_token_is_one_paragraph_saying_what_to_set_and_exits_2(no_token, monkeypatch, capsys, token):
    if token is not None:
        monkeypatch.setenv("RAY_AUTH_TOKEN", token)
    fake = FakeRay(refused("Unauthenticated: RPC error: InvalidAuthToken: Authentication token is missing or incorrect"))
    monkeypatch.setitem(sys.modules, "ray", fake)
    script = write_protocol(no_token / "p")
    code = main(["run", str(script), "--store", str(no_token / "s.sqlite"), "--executor", "ray", "--address", "10.0.0.1:6379",
                 "--no-progress", "--no-figure"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "--address 10.0.0.1:6379" in err and "token authentication" in err
    assert "ray get-auth-token" in err and "RAY_AUTH_TOKEN" in err and "RAY_AUTH_TOKEN_PATH" in err and "RAY_AUTH_MODE=disabled" in err
    assert ("no token was found here" in err) == (token is None) and ("was refused" in err) == (token is not None)
    assert "RAY_AUTH_MODE" not in os.environ  # set for the attempt only


def test_another_failure_to_join_is_not_called_an_authentication_problem(no_token, monkeypatch):
    fake = FakeRay(refused("Failed to connect to GCS within 60 seconds: connection refused"))
    with pytest.raises(BioplausError) as e:
        ray_cluster.join(fake, "10.0.0.1:6379", 40)
    assert "could not join the Ray cluster at --address 10.0.0.1:6379" in str(e.value) and "token" not in str(e.value)


# -- what a job carries ---------------------------------------------------------------

@needs_ray[0]
@needs_ray[1]
def test_a_job_carries_its_protocol_and_its_spec_and_needs_none_of_its_files(tmp_path, monkeypatch):
    script = write_protocol(tmp_path / "outside", steps=5)
    protocol = load_protocol(script)
    inputs = ray_cluster.ship_inputs(FakeRay(), protocol, quick=False, data_dir=None)
    assert inputs.beside == {"wide_beside.toml": SPEC} and inputs.script_name == script.name
    expected = config_hash(protocol.run_config("backprop", 1))
    shutil.rmtree(tmp_path / "outside")  # a worker on another machine has none of these files
    monkeypatch.delitem(sys.modules, ray_cluster.script_module(protocol.source).__name__)  # nor the script's module

    monkeypatch.setattr(ray_cluster, "_PROTOCOLS", {})
    unpickled = ray_cluster.protocol_from_inputs(inputs)
    assert type(unpickled.task).__name__ == "WideTeacher" and unpickled.model.sizes == (64, 256, 256, 10)
    assert config_hash(unpickled.run_config("backprop", 1)) == expected

    monkeypatch.setattr(ray_cluster, "_PROTOCOLS", {})
    inputs.protocol_blob = None  # could not be pickled: rebuilt from the shipped script and the spec beside it
    rebuilt = ray_cluster.protocol_from_inputs(inputs)
    assert rebuilt is not unpickled and config_hash(rebuilt.run_config("backprop", 1)) == expected


@needs_ray[0]
@needs_ray[1]
def test_a_spec_the_driver_finds_by_name_outside_bioplaus_travels_for_the_rebuild(tmp_path, monkeypatch):
    (tmp_path / "my-models").mkdir()
    (tmp_path / "my-models" / "wide_by_name.toml").write_text(SPEC)
    monkeypatch.setenv("BIOPLAUS_MODELS", str(tmp_path / "my-models"))
    script = write_protocol(tmp_path / "p", steps=5)
    script.write_text(script.read_text().replace('models.load(Path(__file__).with_name("wide_beside.toml"))', '"wide_by_name"'))
    (tmp_path / "p" / "wide_beside.toml").unlink()
    protocol = load_protocol(script)
    inputs = ray_cluster.ship_inputs(FakeRay(), protocol, quick=False, data_dir=None)
    assert inputs.named == {"wide_by_name.toml": SPEC} and "linear_30_20_10.toml" not in inputs.named
    expected = config_hash(protocol.run_config("feedback_alignment", 0))
    shutil.rmtree(tmp_path / "my-models")
    shutil.rmtree(tmp_path / "p")
    monkeypatch.delenv("BIOPLAUS_MODELS")  # a node without the driver's model folders
    monkeypatch.setattr(ray_cluster, "_PROTOCOLS", {})
    inputs.protocol_blob = None
    rebuilt = ray_cluster.protocol_from_inputs(inputs)
    assert config_hash(rebuilt.run_config("feedback_alignment", 0)) == expected
    assert "BIOPLAUS_MODELS" not in os.environ


def write_tiny_mnist(folder: Path) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for split, n in (("train", 12), ("t10k", 5)):
        write_idx(folder / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8))


@needs_ray[0]
@needs_ray[1]
def test_mnist_files_travel_with_the_jobs_and_are_written_once_per_node(tmp_path, monkeypatch):
    write_tiny_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "notes.txt").write_text("not shipped")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "node-tmp"))
    (tmp_path / "node-tmp").mkdir()
    protocol = load_protocol(write_protocol(tmp_path / "p", steps=5))
    inputs = ray_cluster.ship_inputs(FakeRay(), protocol, quick=False, data_dir=str(tmp_path / "mnist"))
    assert sorted(inputs.data_files) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                                         "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
    expected = load_mnist(tmp_path / "mnist")
    shutil.rmtree(tmp_path / "mnist")
    fetched = []

    def fetch(files):
        fetched.append(1)
        return files

    first = ray_cluster.data_dir_on_node(inputs, fetch)
    assert ray_cluster.data_dir_on_node(inputs, fetch) == first and len(fetched) == 1
    assert Path(first).parent == tmp_path / "node-tmp"
    for a, b in zip(load_mnist(first), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_data_dir_that_was_not_shipped_and_is_missing_on_a_node_names_node_and_path(tmp_path):
    inputs = ray_cluster.JobInputs(quick=False, protocol_blob=None, script_name=None, script_text=None,
                                   data_dir=str(tmp_path / "nowhere"))
    with pytest.raises(BioplausError, match=f"on {socket.gethostname()}.*{tmp_path / 'nowhere'} does not exist on this node"):
        ray_cluster.data_dir_on_node(inputs)


@needs_ray[0]
@needs_ray[1]
def test_a_node_whose_bioplaus_differs_from_the_drivers_refuses_to_run(tmp_path):
    protocol = load_protocol(write_protocol(tmp_path / "p", steps=5))
    inputs = ray_cluster.ship_inputs(FakeRay(), protocol, quick=False, data_dir=None)
    result, error, node = ray_cluster.run_shipped_job(inputs, "backprop", 0, config_hash(protocol.run_config("backprop", 0)), "cpu")
    assert result is not None and error is None and node == socket.gethostname()
    inputs.fingerprint = "0" * 16
    result, error, _ = ray_cluster.run_shipped_job(inputs, "backprop", 0, "", "cpu")
    assert result is None and "is not the driver's" in error and "install the same bioplaus on every node" in error


# -- a two-node cluster on this machine -------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_mentioning(text: str) -> list[int]:
    """Ids of the processes whose command line mentions ``text`` (the cluster's own temporary folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def stop_cluster(groups: list[int], marker: str, timeout_s: float = 10.0) -> None:
    """End the cluster's processes, and only them: the process groups its ``ray start`` calls made, and any
    process whose command line names its temporary folder; SIGTERM, then SIGKILL after ``timeout_s``.
    (``ray stop`` would end every Ray process on the machine, other users' clusters included.)"""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for g in groups:
            try:
                os.killpg(g, sig)
            except ProcessLookupError:
                pass
        for pid in processes_mentioning(marker):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and processes_mentioning(marker):
            time.sleep(0.5)
        if not processes_mentioning(marker):
            return


@pytest.fixture
def two_node_cluster(monkeypatch):
    """``127.0.0.1:PORT`` of a two-node Ray cluster with token authentication, one CPU per node."""
    ray_command = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray_command is None:
        pytest.skip("the ray command is not installed (pip install -c constraints.txt -e '.[ray]')")
    root = Path(tempfile.mkdtemp(prefix="bp-ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    token = root / "token"
    token.write_text(uuid.uuid4().hex)
    port = free_port()
    common = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token), "PYTHONPATH": str(REPO),
              "RAY_USAGE_STATS_ENABLED": "0"}
    nodes = [
        (["--head", f"--port={port}", f"--temp-dir={root / 'ray'}", "--include-dashboard=false",
          f"--dashboard-port={free_port()}"], {}, root / "head"),
        ([f"--address=127.0.0.1:{port}"], {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}, root / "second"),
    ]
    groups = []
    try:
        for args, env, cwd in nodes:
            cwd.mkdir()
            start = subprocess.Popen([ray_command, "start", "--num-cpus=1", f"--dashboard-agent-listen-port={free_port()}", *args],
                                     cwd=cwd, env={**common, **env}, start_new_session=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            groups.append(start.pid)
            out, _ = start.communicate(timeout=180)
            assert start.returncode == 0, out
        for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN"):  # the driver finds the token by itself
            without(monkeypatch, name)
        monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token))
        yield f"127.0.0.1:{port}"
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        stop_cluster(groups, str(root))
        shutil.rmtree(root, ignore_errors=True)


def stored(path: Path) -> tuple[pd.DataFrame, dict[tuple[str, int], dict[str, np.ndarray]]]:
    """A store's metric rows (sorted) and its arrays by (condition, seed)."""
    with Store(path, create=False) as store:
        table = store.metrics(protocol="beside").sort_values(KEY).reset_index(drop=True)[KEY + ["value"]]
        arrays = {(r.condition, int(r.seed)): store.arrays(int(r.id)) for r in store.runs(protocol="beside").itertuples()}
    return table, arrays


@pytest.mark.slow
def test_a_two_node_cluster_gives_the_serial_numbers_bit_for_bit(two_node_cluster, tmp_path, monkeypatch):
    from bioplaus import execute

    script = write_protocol(tmp_path / "outside", steps=100)
    protocol = load_protocol(script)
    with Store(tmp_path / "serial.sqlite") as store:
        execute.run_protocol(protocol, store, progress=False)
    (tmp_path / "outside").rename(tmp_path / "moved")  # nothing may be read from the protocol's folder now

    executors, make = [], execute.make_executor

    def keep(*args, **kwargs):
        executors.append(make(*args, **kwargs))
        return executors[-1]

    monkeypatch.setattr(execute, "make_executor", keep)
    with Store(tmp_path / "ray.sqlite") as store:
        report = execute.run_protocol(protocol, store, executor="ray", address=two_node_cluster, progress=False)
    assert (report.done, report.failed) == (6, 0), report
    nodes = executors[0].jobs_by_node
    assert len(nodes) == 2 and sum(nodes.values()) == 6, nodes  # both nodes ran jobs
    (ray_table, ray_arrays), (serial_table, serial_arrays) = stored(tmp_path / "ray.sqlite"), stored(tmp_path / "serial.sqlite")
    assert len(serial_table) > 0 and {"norm_ratio", "weight_angle"} <= set(serial_table.metric)
    pd.testing.assert_frame_equal(ray_table, serial_table, check_exact=True)
    assert ray_arrays.keys() == serial_arrays.keys()
    for job, arrays in serial_arrays.items():
        assert arrays.keys() == ray_arrays[job].keys()
        for name, a in arrays.items():
            np.testing.assert_array_equal(ray_arrays[job][name], a, err_msg=f"{job}: {name}")
