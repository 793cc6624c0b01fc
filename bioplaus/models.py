"""Model specs: find ``models/NAME.toml``, validate it, and build the network it describes.

``load("mlp_digits")`` looks for ``mlp_digits.toml`` in, in order: the directories
listed in ``$BIOPLAUS_MODELS`` (``os.pathsep``-separated), ``./models`` and the
``models/`` folder of the bioplaus source tree. A path ending in ``.toml`` is read
directly.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.feedforward import FeedforwardNet
from bioplaus.rate.spec import FeedforwardSpec, feedforward_spec_from_dict, load_toml

MODEL_KINDS = ("feedforward",)
REPO_ROOT = Path(__file__).resolve().parent.parent


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


def load(name_or_path: str | os.PathLike) -> FeedforwardSpec:
    """Read and validate a model spec; errors name the file, the field and the allowed values."""
    path = find(name_or_path)
    data = load_toml(path)
    kind = data.get("kind", "feedforward")
    if kind not in MODEL_KINDS:
        raise BioplausError(f"{path}: field 'kind' is {kind!r}; allowed values are {allowed(MODEL_KINDS)}.")
    return feedforward_spec_from_dict(data, source=str(path), default_name=path.stem)


def build(spec: FeedforwardSpec, generator: torch.Generator | None = None) -> FeedforwardNet:
    """Instantiate the network a spec describes, initialised from ``generator``."""
    return FeedforwardNet(spec, generator)
