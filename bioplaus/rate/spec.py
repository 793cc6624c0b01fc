"""Feedforward rate-network specs, as written in ``models/*.toml`` and validated once on load.

A spec file is a flat TOML table::

    kind = "feedforward"
    description = "64-256-256-10 tanh MLP for the 8x8 digits"
    sizes = [64, 256, 256, 10]
    activations = ["tanh", "tanh", "linear"]
    bias = true
    init = "xavier_uniform"
    init_scale = 1.0

After validation the rest of the code trusts a :class:`FeedforwardSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bioplaus.errors import BioplausError, allowed
from bioplaus.model_kind import check_fields, default_layer_names, spec_dict

ACTIVATIONS = ("linear", "tanh", "relu", "sigmoid")
INITS = ("uniform", "normal", "xavier_uniform", "xavier_normal", "kaiming_uniform", "torch_default")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class FeedforwardSpec:
    """A layered rate network ``h_l = f_l(W_l h_{l-1} + b_l)``.

    Attributes:
        name: the spec's name (the file stem unless given).
        sizes: units per layer, input first, e.g. ``(30, 20, 10)``.
        activations: one per weight layer, each of ``ACTIVATIONS``.
        bias: whether every layer has a bias.
        init: weight initialisation scheme, one of ``INITS``. ``uniform`` draws
            ``U(-init_scale, init_scale)``, ``normal`` draws ``N(0, init_scale**2)``;
            for the Glorot/He schemes ``init_scale`` is the gain. Biases start at 0
            except with ``torch_default``.
        layer_names: names of the weight layers, used as ``layer`` in metrics;
            ``hidden1, hidden2, ..., output`` by default.
        dtype: ``float32`` (default) or ``float64``: the parameters' precision; inputs are cast to it,
            so a float64 network on float32 data computes (and its rules measure) in float64.
    """

    name: str
    sizes: tuple[int, ...]
    activations: tuple[str, ...]
    bias: bool = True
    init: str = "xavier_uniform"
    init_scale: float = 1.0
    layer_names: tuple[str, ...] = ()
    description: str = ""
    kind: str = "feedforward"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if not self.layer_names:
            object.__setattr__(self, "layer_names", default_layer_names(len(self.sizes) - 1))

    def to_dict(self) -> dict[str, Any]:
        d = spec_dict(self)
        if d["dtype"] == "float32":  # the default is left out, so float32 specs store (and hash) as before the field
            del d["dtype"]
        return d


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "kind": (str, "a string"),
    "name": (str, "a string"),
    "description": (str, "a string"),
    "sizes": (list, "a list of positive integers"),
    "activations": (list, "a list of strings"),
    "bias": (bool, "true or false"),
    "init": (str, "a string"),
    "init_scale": ((int, float), "a positive number"),
    "layer_names": (list, "a list of strings"),
    "dtype": (str, "a string"),
}


def feedforward_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> FeedforwardSpec:
    """Validate a parsed TOML table; ``source`` names the file in error messages."""

    def fail(field: str, msg: str) -> BioplausError:
        return BioplausError(f"{source}: field '{field}' {msg}")

    check_fields(data, _FIELDS, source, "a feedforward model spec", required=("sizes", "activations"))

    sizes = data["sizes"]
    if len(sizes) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise fail("sizes", f"must list at least two positive integers (input first), got {sizes!r}.")
    acts = data["activations"]
    if len(acts) != len(sizes) - 1:
        raise fail("activations", f"must have one entry per weight layer ({len(sizes) - 1} for sizes {sizes}), got {len(acts)}.")
    for a in acts:
        if a not in ACTIVATIONS:
            raise fail("activations", f"has unknown activation {a!r}; allowed values are {allowed(ACTIVATIONS)}.")
    init = data.get("init", "xavier_uniform")
    if init not in INITS:
        raise fail("init", f"is {init!r}; allowed values are {allowed(INITS)}.")
    scale = float(data.get("init_scale", 1.0))
    if not scale > 0:
        raise fail("init_scale", f"must be a positive number, got {scale!r}.")
    names = data.get("layer_names", [])
    if names:
        if len(names) != len(sizes) - 1 or not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise fail("layer_names", f"must give {len(sizes) - 1} distinct identifiers, got {names!r}.")
        if len(set(names)) != len(names) or "all" in names:
            raise fail("layer_names", f"must be distinct and must not be 'all', got {names!r}.")
    dtype = data.get("dtype", "float32")
    if dtype not in DTYPES:
        raise fail("dtype", f"is {dtype!r}; allowed values are {allowed(DTYPES)}.")
    return FeedforwardSpec(
        name=data.get("name", default_name),
        sizes=tuple(sizes),
        activations=tuple(acts),
        bias=data.get("bias", True),
        init=init,
        init_scale=scale,
        layer_names=tuple(names),
        description=data.get("description", ""),
        dtype=dtype,
    )
