"""Energy-based (continuous Hopfield) network specs, as written in ``models/*.toml``.

A spec file is a flat TOML table::

    kind = "energy"
    description = "64-256-10 Hopfield network for the 8x8 digits"
    sizes = [64, 256, 10]
    activation = "sigmoid"          # or "hard_sigmoid"
    formulation = "energy"          # or "primitive"
    step_size = 0.5                 # epsilon of the gradient-flow step (formulation "energy")
    schedule = "synchronous"        # or "alternating"
    tolerance = 1e-6                # fixed point: max |s_{t+1} - s_t| <= tolerance
    max_steps = 200                 # free phase
    nudged_max_steps = 100          # nudged / clamped phases
    init = "xavier_uniform"
    init_scale = 1.0
    bias = true
    dtype = "float32"

After validation the rest of the code trusts an :class:`EnergySpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bioplaus.errors import BioplausError, allowed
from bioplaus.model_kind import check_fields, default_layer_names, spec_dict
from bioplaus.rate.spec import INITS

ENERGY_ACTIVATIONS = ("sigmoid", "hard_sigmoid")
FORMULATIONS = ("energy", "primitive")
SCHEDULES = ("synchronous", "alternating")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class EnergySpec:
    """A layered energy-based network: input ``x`` clamped, states ``s_1 .. s_L`` relaxed.

    Attributes:
        sizes: units per layer, input first, e.g. ``(64, 256, 10)``; the last layer is the output.
        activation: the bounded rate function rho, ``sigmoid`` (logistic) or ``hard_sigmoid``
            (``clip(s, 0, 1)``, Scellier & Bengio 2017).
        formulation: ``energy``: gradient flow ``s <- s - step_size * dE/ds`` on the Hopfield
            energy of Scellier & Bengio 2017; ``primitive``: the discrete-time
            dynamics ``s <- rho(dPhi/ds)`` of Ernoult et al. 2019 / Laborieux et al. 2021.
        step_size: epsilon of the gradient-flow step (``energy`` only), in (0, 1].
        schedule: ``synchronous`` (every layer from the previous state; Ernoult et al. 2019,
            Laborieux et al. 2021) or ``alternating`` (odd then even layers, each from the latest
            state: block coordinate descent, the asynchronous updates of Scellier et al. 2023).
        tolerance: the relaxation stops when ``max |s_{t+1} - s_t| <= tolerance`` (state units).
        max_steps: most free-phase steps; ``nudged_max_steps``: most steps of a nudged or clamped phase.
        init, init_scale: weight initialisation as in :class:`bioplaus.rate.spec.FeedforwardSpec`.
        bias: whether each layer has a bias.
        dtype: ``float32`` or ``float64`` (parameters, states; inputs are cast to it).
        layer_names: names of the state layers (``hidden1, ..., output``); weight ``W_l``
            connects layer ``l-1`` to layer ``l``.
    """

    name: str
    sizes: tuple[int, ...]
    activation: str = "sigmoid"
    formulation: str = "energy"
    step_size: float = 0.5
    schedule: str = "synchronous"
    tolerance: float = 1e-6
    max_steps: int = 200
    nudged_max_steps: int = 100
    init: str = "xavier_uniform"
    init_scale: float = 1.0
    bias: bool = True
    dtype: str = "float32"
    layer_names: tuple[str, ...] = ()
    description: str = ""
    kind: str = "energy"

    def __post_init__(self) -> None:
        if not self.layer_names:
            object.__setattr__(self, "layer_names", default_layer_names(len(self.sizes) - 1))

    def to_dict(self) -> dict[str, Any]:
        return spec_dict(self)


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "kind": (str, "a string"),
    "name": (str, "a string"),
    "description": (str, "a string"),
    "sizes": (list, "a list of positive integers"),
    "activation": (str, "a string"),
    "formulation": (str, "a string"),
    "step_size": ((int, float), "a number in (0, 1]"),
    "schedule": (str, "a string"),
    "tolerance": ((int, float), "a positive number"),
    "max_steps": (int, "a positive integer"),
    "nudged_max_steps": (int, "a positive integer"),
    "init": (str, "a string"),
    "init_scale": ((int, float), "a positive number"),
    "bias": (bool, "true or false"),
    "dtype": (str, "a string"),
    "layer_names": (list, "a list of strings"),
}


def energy_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> EnergySpec:
    """Validate a parsed TOML table; ``source`` names the file in error messages."""

    def fail(field: str, msg: str) -> BioplausError:
        return BioplausError(f"{source}: field '{field}' {msg}")

    check_fields(data, _FIELDS, source, "an energy model spec")
    if "sizes" not in data:
        raise BioplausError(f"{source}: required field 'sizes' is missing ({_FIELDS['sizes'][1]}).")
    sizes = data["sizes"]
    if len(sizes) < 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise fail("sizes", f"must list at least two positive integers (input first), got {sizes!r}.")
    choices = {"activation": ENERGY_ACTIVATIONS, "formulation": FORMULATIONS, "schedule": SCHEDULES, "init": INITS, "dtype": DTYPES}
    for key, options in choices.items():
        if key in data and data[key] not in options:
            raise fail(key, f"is {data[key]!r}; allowed values are {allowed(options)}.")
    step = float(data.get("step_size", 0.5))
    if not 0 < step <= 1:
        raise fail("step_size", f"must be a number in (0, 1], got {step!r}.")
    for key in ("tolerance", "init_scale"):
        if key in data and not float(data[key]) > 0:
            raise fail(key, f"must be a positive number, got {data[key]!r}.")
    for key in ("max_steps", "nudged_max_steps"):
        if key in data and data[key] < 1:
            raise fail(key, f"must be a positive integer, got {data[key]!r}.")
    names = data.get("layer_names", [])
    if names:
        if len(names) != len(sizes) - 1 or not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise fail("layer_names", f"must give {len(sizes) - 1} identifiers (one per state layer), got {names!r}.")
        if len(set(names)) != len(names) or "all" in names:
            raise fail("layer_names", f"must be distinct and must not be 'all', got {names!r}.")
    return EnergySpec(
        name=data.get("name", default_name),
        sizes=tuple(sizes),
        activation=data.get("activation", "sigmoid"),
        formulation=data.get("formulation", "energy"),
        step_size=step,
        schedule=data.get("schedule", "synchronous"),
        tolerance=float(data.get("tolerance", 1e-6)),
        max_steps=data.get("max_steps", 200),
        nudged_max_steps=data.get("nudged_max_steps", 100),
        init=data.get("init", "xavier_uniform"),
        init_scale=float(data.get("init_scale", 1.0)),
        bias=data.get("bias", True),
        dtype=data.get("dtype", "float32"),
        layer_names=tuple(names),
        description=data.get("description", ""),
    )
