"""Model specs: find ``models/NAME.toml``, validate it, and build the network it describes.

A spec file names its ``kind`` (default ``feedforward``). Each kind is a
:class:`~bioplaus.model_kind.ModelKind` defined beside its model code and listed in
:data:`KINDS` (the spiking kind's module does not import Brian2, so a rate protocol never
does). A kind says how to validate a spec, how to build the
model, whether the model fits a task, what the model can do (its *capabilities*, which
rules' ``requires`` are checked against when a protocol is built) and which engine runs
it: ``torch`` (the one run loop, :mod:`bioplaus.train`) or ``brian2`` (the spiking task's
own simulation under the same outer contract).

Every torch model owns what "exact" means for it: ``reference_gradient(batch)`` returns the
exact gradient of its loss, keyed like ``named_parameters()`` (autograd for feedforward
nets and convnets, implicit differentiation at the fixed point for energy nets, BPTT for
recurrent nets), and ``project(estimate)`` maps a gradient with respect to its stored
parameters to the update of its effective parameterisation (the identity except for
constrained cells).

``load("mlp_digits")`` looks for ``mlp_digits.toml`` in, in order: the directories
listed in ``$BIOPLAUS_MODELS`` (``os.pathsep``-separated), ``./models`` and the
``models/`` folder of the bioplaus source tree. A path ending in ``.toml`` is read
directly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from bioplaus.errors import BioplausError, allowed
from bioplaus.model_kind import CAPABILITIES, ModelKind, check_fields, default_layer_names, spec_dict  # noqa: F401  (re-exported)
from bioplaus.rate.convnet import KIND as CONVNET
from bioplaus.rate.energy import KIND as ENERGY
from bioplaus.rate.feedforward import KIND as FEEDFORWARD
from bioplaus.rate.recurrent import KIND as RECURRENT
from bioplaus.rl.agent import KIND as AGENT
from bioplaus.spiking.task import KIND as SPIKING

REPO_ROOT = Path(__file__).resolve().parent.parent

#: every kind of model, by the ``kind`` written in spec files
KINDS: dict[str, ModelKind] = {k.name: k for k in (FEEDFORWARD, SPIKING, CONVNET, ENERGY, RECURRENT, AGENT)}


def capabilities(spec: Any) -> frozenset[str]:
    """What a model built from ``spec`` can do (names from :data:`CAPABILITIES`)."""
    return kind(spec.kind).capabilities(spec)


def kind(name: str) -> ModelKind:
    """The :class:`ModelKind` called ``name``."""
    if name not in KINDS:
        raise BioplausError(f"unknown model kind {name!r}; allowed values are {allowed(KINDS)}.")
    return KINDS[name]


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
