"""bioplaus: how close does a biologically plausible learning rule come to gradient descent?

The public names below are imported on first use (module ``__getattr__``, PEP 562), so
that ``import bioplaus`` and the command line's ``--help``, ``list`` and ``results`` do
not pay for torch and Brian2.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bioplaus.errors import BioplausError
from bioplaus.version import __version__  # noqa: F401  (bioplaus.__version__)

#: public name -> ``"module"`` (a subpackage) or ``"module:attribute"``
_LAZY: dict[str, str] = {
    "metrics": "bioplaus.metrics",
    "models": "bioplaus.models",
    "rules": "bioplaus.rules",
    "tasks": "bioplaus.tasks",
    "Condition": "bioplaus.protocol:Condition",
    "Protocol": "bioplaus.protocol:Protocol",
    "PublishedTarget": "bioplaus.protocol:PublishedTarget",
    "load_protocol": "bioplaus.protocol:load_protocol",
    "wrap": "bioplaus.rules.wrap:wrap",
}

__all__ = ["BioplausError", "Condition", "Protocol", "PublishedTarget", "load_protocol", "metrics", "models", "rules", "tasks", "wrap"]

if TYPE_CHECKING:
    from bioplaus import metrics, models, rules, tasks
    from bioplaus.protocol import Condition, Protocol, PublishedTarget, load_protocol
    from bioplaus.rules.wrap import wrap


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'bioplaus' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    value = importlib.import_module(module_name)
    if attribute:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
