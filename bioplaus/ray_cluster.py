"""Running a sweep's jobs on a Ray cluster: joining it, and shipping each job's inputs.

Joining. Ray (2.52 and later) authenticates with a token when ``RAY_AUTH_MODE=token``;
``ray start`` turns it on by itself when a token exists on the head node, and a local
``ray.init()`` writes one to ``~/.ray/auth_token``. ``ray.init(address=...)`` does not
look for a token unless ``RAY_AUTH_MODE=token`` is set, so :func:`join` sets it when a
token is available where Ray documents it (in this order: the variable
``RAY_AUTH_TOKEN``, the file named by ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``;
https://docs.ray.io/en/latest/ray-security/token-auth.html). A token sent to a cluster
without authentication is ignored. An explicit ``RAY_AUTH_MODE`` is respected.

Shipping. A worker on another machine has none of the driver's files, so a job carries
what it needs in :class:`JobInputs`, put once in Ray's object store: the protocol object
(pickled with its script's own classes and functions by value, so the script is never
imported there, and with its model specs, which are data once loaded), the script's text,
the model specs beside it and those the driver finds by name outside bioplaus's own
``models/`` (to rebuild the protocol from, should the object not unpickle), the MNIST IDX files of ``--data-dir``
(read once here, written once per node
into a folder of the node's temporary directory), and a fingerprint of the driver's
bioplaus code, so that a node with another bioplaus says so instead of computing other
numbers.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from bioplaus import models
from bioplaus.errors import BioplausError
from bioplaus.jobs import error_text, run_job
from bioplaus.protocol import load_protocol
from bioplaus.tasks.mnist import FILES, find_file

MODE_ENV, TOKEN_ENV, TOKEN_PATH_ENV = "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"
PACKAGE = Path(__file__).resolve().parent
_CODE_SUFFIXES = (".py", ".c", ".mplstyle")


# -- joining -------------------------------------------------------------------------------

def default_token_file() -> Path:
    """Ray's default token file, ``~/.ray/auth_token``."""
    return Path.home() / ".ray" / "auth_token"


def token_source() -> str | None:
    """Where Ray will read this process's token from, in Ray's order of precedence; ``None`` if nowhere.

    A ``RAY_AUTH_TOKEN_PATH`` naming a missing or empty file is an error here: Ray documents
    it as a fatal misconfiguration, on which it aborts the process.
    """
    if os.environ.get(TOKEN_ENV, "").strip():
        return f"the environment variable {TOKEN_ENV}"
    named = os.environ.get(TOKEN_PATH_ENV)
    if named:
        path = Path(named).expanduser()
        try:
            text = path.read_text()
        except OSError as e:
            raise BioplausError(f"--executor ray: {TOKEN_PATH_ENV}={named} names a file that cannot be read ({e.strerror}); "
                                f"point it to the file holding the cluster's token, or unset it.") from None
        if not text.strip():
            raise BioplausError(f"--executor ray: {TOKEN_PATH_ENV}={named} names an empty file; it must hold the cluster's token.")
        return f"the file {path} ({TOKEN_PATH_ENV})"
    path = default_token_file()
    if path.is_file() and path.read_text().strip():
        return f"the file {path}"
    return None


def prepare_authentication() -> tuple[str, str | None, bool]:
    """Set ``RAY_AUTH_MODE=token`` for this process when a token is available and no mode is set.

    Returns ``(mode, token source, whether this call set the variable)``. Must run before
    ``ray.init``; when Ray's C++ core is already loaded, its cached configuration is
    re-read (as ``ray start`` does when it finds a token).
    """
    source = token_source()
    mode = os.environ.get(MODE_ENV)
    if mode is not None:
        return mode.lower(), source, False
    if source is None:
        return "disabled", None, False
    os.environ[MODE_ENV] = "token"
    raylet = sys.modules.get("ray._raylet")
    if raylet is not None:  # Ray read its configuration at import; read it again with token mode on
        raylet.Config.initialize("")
    return "token", source, True


def is_authentication_failure(error: BaseException) -> bool:
    """Whether ``error`` (or an exception it was raised from) is Ray refusing or missing a token."""
    marks = ("InvalidAuthToken", "AuthenticationError", "Unauthenticated", "authentication token")
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if type(e).__name__ == "AuthenticationError" or any(m in str(e) for m in marks):
            return True
        e = e.__cause__ or e.__context__
    return False


def authentication_error(address: str, mode: str, source: str | None) -> BioplausError:
    """The one-paragraph error for a cluster that refused this process's token (or its lack of one)."""
    if mode == "disabled" and os.environ.get(MODE_ENV):
        found = f"{MODE_ENV}=disabled is set here, so no token was sent"
    elif source is None:
        found = (f"no token was found here (looked for the environment variable {TOKEN_ENV}, the file named by "
                 f"{TOKEN_PATH_ENV}, and {default_token_file()})")
    else:
        found = f"the token read from {source} was refused"
    return BioplausError(
        f"--executor ray --address {address}: the Ray cluster requires token authentication and {found}. "
        f"Give this machine the cluster's token: print it on the head node with `ray get-auth-token`, then set "
        f"{TOKEN_ENV} to it, or {TOKEN_PATH_ENV} to a file holding it, or copy it to {default_token_file()}; "
        f"every node of the cluster must use the same token. A cluster started without authentication needs "
        f"{MODE_ENV}=disabled on every node (see README, 'Ray clusters')."
    )


def join(ray: Any, address: str, logging_level: int) -> tuple[bool, bool]:
    """Connect this process to the Ray cluster at ``address``.

    Returns ``(whether this call connected, whether it set RAY_AUTH_MODE)``; nothing is
    done when Ray is already initialised here. Raises :class:`BioplausError` on failure,
    with what to set when the cluster refused to authenticate this process.
    """
    if ray.is_initialized():
        return False, False
    mode, source, set_mode = prepare_authentication()
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging_level)
    except Exception as e:
        forget_authentication(set_mode)
        if is_authentication_failure(e):
            raise authentication_error(address, mode, source) from e
        raise BioplausError(
            f"--executor ray: could not join the Ray cluster at --address {address}: {type(e).__name__}: {e}. "
            f"Is `ray start --head` running there, and is its port reachable from this machine?"
        ) from e
    return True, set_mode


def leave(ray: Any, set_mode: bool) -> None:
    """Disconnect from the cluster :func:`join` connected to, and forget how this process authenticated.

    Ray keeps the authentication mode and the token it read for the life of the process;
    without forgetting them, a later local Ray (or another cluster) in the same process
    would be sent this cluster's token and refuse it.
    """
    ray.shutdown()
    forget_authentication(set_mode)


def forget_authentication(set_mode: bool) -> None:
    """Unset the ``RAY_AUTH_MODE`` :func:`prepare_authentication` set, and have Ray read its mode and token anew."""
    if set_mode:
        os.environ.pop(MODE_ENV, None)
    raylet = sys.modules.get("ray._raylet")
    if raylet is not None:
        raylet.Config.initialize("")
        raylet.AuthenticationTokenLoader.instance().reset_cache()


# -- what a job carries --------------------------------------------------------------------

@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """SHA-256 (16 hex digits) of this bioplaus's code: every ``.py``, ``.c`` and style file of the package."""
    h = hashlib.sha256()
    for path in sorted(p for p in PACKAGE.rglob("*") if p.suffix in _CODE_SUFFIXES and "__pycache__" not in p.parts):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def node_name() -> str:
    """This machine and Ray node, for messages: ``host (ip, node 1a2b3c4d)``."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():  # not inside Ray (asking the runtime context would start Ray)
        return socket.gethostname()
    node = ray.get_runtime_context().get_node_id()
    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()}, node {node[:8]})"


@dataclass
class JobInputs:
    """Everything a job needs from the driver's machine.

    Attributes:
        quick: whether the protocol is its script's ``--quick`` version.
        protocol_blob: the protocol, pickled with its script's classes by value; ``None``
            when it could not be pickled (the worker rebuilds it from ``script_text``).
        script_name, script_text: the protocol script's file name and source (``None``
            for a protocol built in Python, not by a script).
        beside: ``{file name: text}`` of the model specs (``*.toml``) in the script's folder.
        named: ``{file name: text}`` of the specs the driver finds by name in ``$BIOPLAUS_MODELS``
            or ``./models`` (not in bioplaus's own ``models/``, which every node has).
        data_dir: the driver's ``--data-dir`` (for messages and for files not shipped).
        data_files: the ObjectRef of ``{file name: bytes}``, the MNIST IDX files of
            ``data_dir`` (``None`` without them); ``data_key``: SHA-256 of those files.
        fingerprint: :func:`code_fingerprint` of the driver.
    """

    quick: bool
    protocol_blob: bytes | None
    script_name: str | None
    script_text: str | None
    beside: dict[str, str] = field(default_factory=dict)
    named: dict[str, str] = field(default_factory=dict)
    data_dir: str | None = None
    data_files: Any = None
    data_key: str | None = None
    fingerprint: str = ""

    @property
    def key(self) -> str:
        """Identifies the protocol these inputs describe (worker processes cache it by this key)."""
        h = hashlib.sha256(self.protocol_blob or b"")
        h.update((self.script_text or "").encode() + str(self.quick).encode())
        return h.hexdigest()


def script_module(source: str | None):
    """The module :func:`bioplaus.protocol.load_protocol` made of the script at ``source`` (``None`` if none)."""
    if source is None:
        return None
    for module in list(sys.modules.values()):
        f = getattr(module, "__file__", None)
        if f and module.__name__.startswith("bioplaus_protocol_") and Path(f).resolve() == Path(source).resolve():
            return module
    return None


def pickle_protocol(protocol: Any) -> bytes | None:
    """The protocol pickled with Ray's cloudpickle, its script's own classes and functions by value.

    ``None`` when it cannot be pickled; workers then rebuild it from the script.
    """
    from ray import cloudpickle

    module = script_module(protocol.source)
    if module is not None:
        cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(protocol)
    except Exception:  # e.g. an open file in the protocol: the workers rebuild it from its script
        return None
    finally:
        if module is not None:
            cloudpickle.unregister_pickle_by_value(module)


def read_data_files(data_dir: str) -> tuple[dict[str, bytes], str] | None:
    """``({file name: bytes}, sha256)`` of the four MNIST IDX files in ``data_dir``; ``None`` if any is missing."""

    folder = Path(data_dir)
    try:
        paths = [find_file(folder, stem) for stem in FILES.values()]
    except BioplausError:
        return None
    files = {p.name: p.read_bytes() for p in paths}
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return files, h.hexdigest()[:16]


def user_model_specs() -> dict[str, str]:
    """``{file name: text}`` of the model specs found by name here outside bioplaus's own ``models/``."""

    shipped_with_bioplaus = (models.REPO_ROOT / "models").resolve()
    return {p.name: p.read_text() for p in models.available().values() if p.parent.resolve() != shipped_with_bioplaus}


def ship_inputs(ray: Any, protocol: Any, quick: bool, data_dir: str | None) -> JobInputs:
    """Read this sweep's inputs once and put the large ones in Ray's object store."""
    script_name = script_text = None
    beside: dict[str, str] = {}
    if protocol.source is not None and Path(protocol.source).is_file():
        script = Path(protocol.source)
        script_name, script_text = script.name, script.read_text()
        beside = {p.name: p.read_text() for p in sorted(script.parent.glob("*.toml")) if p.is_file()}
    inputs = JobInputs(quick, pickle_protocol(protocol), script_name, script_text, beside, user_model_specs(), data_dir,
                       fingerprint=code_fingerprint())
    if data_dir is not None:
        found = read_data_files(data_dir)
        if found is not None:
            files, inputs.data_key = found
            inputs.data_files = ray.put(files)
    return inputs


# -- what a worker does with them ---------------------------------------------------------

_PROTOCOLS: dict[str, Any] = {}


def protocol_from_inputs(inputs: JobInputs) -> Any:
    """The protocol the driver sent: unpickled, or else rebuilt from its script and the specs shipped with it."""
    if inputs.key in _PROTOCOLS:
        return _PROTOCOLS[inputs.key]

    problem = "it was not sent pickled"
    protocol = None
    if inputs.protocol_blob is not None:
        try:
            protocol = pickle.loads(inputs.protocol_blob)  # the driver's own object, sent to its worker: not stored results
        except Exception as e:
            problem = f"it did not unpickle ({type(e).__name__}: {e})"
    if protocol is None:
        if inputs.script_text is None:
            raise BioplausError(f"on {node_name()}: the protocol cannot be rebuilt here: {problem}, and it was not "
                                f"loaded from a script. Load it from a protocol script, or run without Ray.")
        with tempfile.TemporaryDirectory(prefix="bioplaus-protocol-") as folder:
            for name, text in {**inputs.beside, inputs.script_name: inputs.script_text}.items():
                Path(folder, name).write_text(text)
            named = Path(folder, "named-models")
            named.mkdir()
            for name, text in inputs.named.items():
                Path(named, name).write_text(text)
            search_path = os.environ.get("BIOPLAUS_MODELS")
            os.environ["BIOPLAUS_MODELS"] = os.pathsep.join(p for p in (str(named), search_path) if p)  # the driver's first
            try:
                protocol = load_protocol(Path(folder, inputs.script_name))
            finally:
                if search_path is None:
                    os.environ.pop("BIOPLAUS_MODELS")
                else:
                    os.environ["BIOPLAUS_MODELS"] = search_path
        protocol = protocol.quick_version() if inputs.quick else protocol
    _PROTOCOLS[inputs.key] = protocol
    return protocol


def data_dir_on_node(inputs: JobInputs, fetch: Callable[[Any], dict[str, bytes]] | None = None) -> str | None:
    """The folder this node reads ``--data-dir`` from: the shipped IDX files, written once per node.

    Without shipped files, the driver's path itself, which must then exist on this node.
    ``fetch`` turns ``inputs.data_files`` into the files (``ray.get`` by default), and is
    called only by the first job on a node.
    """
    if inputs.data_dir is None:
        return None
    if inputs.data_files is None:
        if not Path(inputs.data_dir).is_dir():
            raise BioplausError(f"on {node_name()}: --data-dir {inputs.data_dir} does not exist on this node; "
                                f"every node needs the data at the same path.")
        return inputs.data_dir
    folder = Path(tempfile.gettempdir()) / f"bioplaus-data-{inputs.data_key}"
    if not (folder / ".complete").is_file():
        if fetch is None:
            import ray

            fetch = ray.get
        files = fetch(inputs.data_files)
        folder.mkdir(exist_ok=True)
        for name, content in files.items():  # another worker may write the same bytes at the same time
            part = folder / f".{name}.{os.getpid()}"
            part.write_bytes(content)
            os.replace(part, folder / name)
        (folder / ".complete").touch()
    return str(folder)


def check_same_code(inputs: JobInputs) -> None:
    """Refuse to run on a node whose bioplaus differs from the driver's."""
    here = code_fingerprint()
    if here != inputs.fingerprint:
        raise BioplausError(
            f"on {node_name()}: bioplaus at {PACKAGE} is not the driver's (code fingerprint {here}, the driver's is "
            f"{inputs.fingerprint}); install the same bioplaus on every node (pip install -c constraints.txt -e \".[ray]\" "
            f"from the same commit) and restart the node's Ray."
        )


def run_shipped_job(inputs: JobInputs, condition: str, seed: int, expected_hash: str, device: str) -> tuple[Any, str | None, str]:
    """One job on a Ray worker: ``(RunResult or None, error text or None, the node that ran it)``."""

    node = node_name()
    try:
        check_same_code(inputs)
        protocol = protocol_from_inputs(inputs)
        data_dir = data_dir_on_node(inputs)
    except Exception as e:  # a failed run is recorded, and the sweep goes on

        return None, error_text(e), node
    return (*run_job(protocol, inputs.script_name, condition, seed, expected_hash, device, data_dir), node)
