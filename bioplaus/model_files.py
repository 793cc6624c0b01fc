"""Where model spec files are found and how they are read, without building anything (no torch).

``find("mlp_digits")`` looks for ``mlp_digits.toml`` in, in order: the directories listed in
``$BIOPLAUS_MODELS`` (``os.pathsep``-separated), ``./models`` and the ``models/`` folder of the
bioplaus source tree; a path ending in ``.toml`` is read directly. :mod:`bioplaus.models`
validates and builds what is found; ``bioplaus list`` reads descriptions from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bioplaus.errors import BioplausError, allowed

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
