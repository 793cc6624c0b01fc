"""Model specs: find ``models/NAME.toml``, validate it, and build the network it describes.

A spec file names its ``kind`` (default ``feedforward``). Each kind is a
:class:`ModelKind` defined beside its model code and listed in :data:`KINDS` as
``"module:attribute"``, imported only when a spec of that kind is used (so a rate
protocol never imports Brian2). A kind says how to validate a spec, how to build the
model, whether the model fits a task, and, for models that the rate trainer cannot
run (spiking networks), how to run one (condition, seed) itself.

``load("mlp_digits")`` looks for ``mlp_digits.toml`` in, in order: the directories
listed in ``$BIOPLAUS_MODELS`` (``os.pathsep``-separated), ``./models`` and the
``models/`` folder of the bioplaus source tree. A path ending in ``.toml`` is read
directly.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bioplaus.errors import BioplausError, allowed

if TYPE_CHECKING:  # annotations only: `bioplaus list` reads model specs without torch
    import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ModelKind:
    """What bioplaus needs to know about one kind of model.

    Attributes:
        name: the ``kind`` written in spec files.
        spec_type: the (frozen dataclass) spec type; it has ``name``, ``kind``,
            ``description`` and ``to_dict()``.
        from_dict: ``(table, source, default_name) -> spec``; validates a parsed TOML table
            and raises :class:`BioplausError` naming ``source``, the field and the allowed values.
        build: ``(spec, generator) -> model``.
        check_task: ``(spec, task) -> message or None``; a message says why they do not fit.
        run: ``(protocol, condition, seed, device, data_dir, progress) -> RunResult`` for models
            that :mod:`bioplaus.train`'s rate trainer does not run; ``None`` to use it.
    """

    name: str
    spec_type: type
    from_dict: Callable[[dict[str, Any], str, str], Any]
    build: Callable[[Any, torch.Generator | None], Any]
    check_task: Callable[[Any, Any], str | None] | None = None
    run: Callable[..., Any] | None = None


# kind -> "module:attribute" of its ModelKind.
KINDS: dict[str, str] = {
    "feedforward": "bioplaus.rate.feedforward:KIND",
    "spiking": "bioplaus.spiking.task:KIND",
    "convnet": "bioplaus.rate.convnet:KIND",
    "energy": "bioplaus.rate.energy:KIND",
    "recurrent": "bioplaus.rate.recurrent:KIND",
}


def spec_dict(spec: Any) -> dict[str, Any]:
    """A spec dataclass as a plain dict for TOML, JSON and config hashes (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(spec).items()}


def default_layer_names(n_layers: int) -> tuple[str, ...]:
    """``hidden1 ... hidden{n-1}, output``: the layer names of a layered spec that names none."""
    return tuple(f"hidden{i + 1}" for i in range(n_layers - 1)) + ("output",)


def check_fields(data: dict[str, Any], fields: dict[str, tuple[type | tuple[type, ...], str]], source: str,
                 spec_name: str, required: tuple[str, ...] = ()) -> None:
    """Check a parsed TOML table's field names and types against ``fields`` (name -> (types, description)).

    Errors name ``source``, the field, the value and what is allowed; ``spec_name`` says what
    kind of spec it is (``"a feedforward model spec"``). A bool never passes for a number.
    """
    for key, value in data.items():
        if key not in fields:
            raise BioplausError(f"{source}: field '{key}' is not a known field of {spec_name}; allowed fields are {allowed(fields)}.")
        typ, what = fields[key]
        if (isinstance(value, bool) and typ is not bool) or not isinstance(value, typ):
            raise BioplausError(f"{source}: field '{key}' must be {what}, got {value!r} ({type(value).__name__}).")
    for name in required:
        if name not in data:
            raise BioplausError(f"{source}: required field '{name}' is missing ({fields[name][1]}).")


def kind(name: str) -> ModelKind:
    """The :class:`ModelKind` called ``name``."""
    if name not in KINDS:
        raise BioplausError(f"unknown model kind {name!r}; allowed values are {allowed(KINDS)}.")
    module, attr = KINDS[name].split(":")
    return getattr(importlib.import_module(module), attr)


def is_spec(obj: Any) -> bool:
    """Whether ``obj`` is a validated spec of a known kind."""
    k = getattr(obj, "kind", None)
    return isinstance(k, str) and k in KINDS and isinstance(obj, kind(k).spec_type)


def search_path() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("BIOPLAUS_MODELS", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "models", REPO_ROOT / "models"]
    seen, out = set(), []
    for d in dirs:
        key = d.resolve()
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def available() -> dict[str, Path]:
    """All model specs on the search path, by name (earlier directories win)."""
    found: dict[str, Path] = {}
    for d in search_path():
        if d.is_dir():
            for p in sorted(d.glob("*.toml")):
                found.setdefault(p.stem, p)
    return found


def find(name_or_path: str | os.PathLike) -> Path:
    text = str(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        p = Path(text)
        if not p.is_file():
            raise BioplausError(f"{p}: model spec file not found.")
        return p
    specs = available()
    if text not in specs:
        where = ", ".join(str(d) for d in search_path())
        raise BioplausError(
            f"model spec '{text}' not found (looked for {text}.toml in {where}); "
            f"available models are {allowed(sorted(specs))}."
        )
    return specs[text]


def load(name_or_path: str | os.PathLike) -> Any:
    """Read and validate a model spec; errors name the file, the field and the allowed values."""
    path = find(name_or_path)
    data = load_toml(path)
    name = data.get("kind", "feedforward")
    if name not in KINDS:
        raise BioplausError(f"{path}: field 'kind' is {name!r}; allowed values are {allowed(KINDS)}.")
    return kind(name).from_dict(data, str(path), path.stem)


def build(spec: Any, generator: torch.Generator | None = None) -> Any:
    """Instantiate the network a spec describes, initialised from ``generator``."""
    return kind(spec.kind).build(spec, generator)


def load_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a :class:`BioplausError` naming the file."""
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise BioplausError(f"{path}: not valid TOML: {e}.") from e
    except OSError as e:
        raise BioplausError(f"{path}: cannot read the model spec: {e.strerror}.") from e
