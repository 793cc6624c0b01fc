"""Spiking model specs (``kind = "spiking"`` in ``models/*.toml``), validated once on load.

A spec names a neuron model from :data:`bioplaus.spiking.neurons.MODELS`, overrides
its parameters (names carry their unit: ``tau_m_ms``), sets the integration step and
the code-generation target, and gives the network's sizes and input constants in a
``[network]`` table whose keys the task checks::

    kind = "spiking"
    description = "one LIF neuron driven by 1000 plastic excitatory Poisson inputs"
    neuron = "lif_conductance"
    dt_ms = 0.1
    target = "cython"
    [parameters]
    tau_m_ms = 20.0
    [network]
    n_excitatory = 1000

This module does not import Brian2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bioplaus.errors import BioplausError, allowed
from bioplaus.spiking.neurons import MODELS, split_unit

TARGETS = ("cython", "numpy", "cpp_standalone")
NEURONS = ("lif_conductance", "lif_current", "izhikevich", "escape_noise_lif")
_FIELDS = ("kind", "name", "description", "neuron", "parameters", "network", "dt_ms", "target")


@dataclass(frozen=True)
class SpikingSpec:
    """A spiking network description (see the module docstring)."""

    name: str
    neuron: str
    parameters: dict[str, float] = field(default_factory=dict)
    network: dict[str, float] = field(default_factory=dict)
    dt_ms: float = 0.1
    target: str = "cython"
    description: str = ""
    kind: str = "spiking"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "neuron": self.neuron, "parameters": dict(self.parameters),
                "network": dict(self.network), "dt_ms": self.dt_ms, "target": self.target, "description": self.description}


def spiking_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> SpikingSpec:
    """Validate a parsed TOML table; errors name ``source``, the field and the allowed values."""
    for key in data:
        if key not in _FIELDS:
            raise BioplausError(f"{source}: field '{key}' is not a known field of a spiking model spec; allowed fields are {allowed(_FIELDS)}.")
    neuron = data.get("neuron")
    if neuron not in NEURONS:
        raise BioplausError(f"{source}: field 'neuron' is {neuron!r}; allowed values are {allowed(NEURONS)}.")
    target = data.get("target", "cython")
    if target not in TARGETS:
        raise BioplausError(f"{source}: field 'target' is {target!r}; allowed values are {allowed(TARGETS)}.")
    dt = data.get("dt_ms", 0.1)
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
        raise BioplausError(f"{source}: field 'dt_ms' must be a positive number of milliseconds, got {dt!r}.")
    params = data.get("parameters", {})
    if not isinstance(params, dict):
        raise BioplausError(f"{source}: field 'parameters' must be a table of numbers, got {params!r}.")
    known = MODELS[neuron].parameters
    for key, value in params.items():
        if key not in known:
            raise BioplausError(f"{source}: field 'parameters.{key}' is not a parameter of neuron model {neuron!r}; "
                                f"allowed names are {allowed(sorted(known))}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BioplausError(f"{source}: field 'parameters.{key}' must be a finite number (unit: {split_unit(key)[1] or 'none'}), got {value!r}.")
    network = data.get("network", {})
    if not isinstance(network, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in network.values()):
        raise BioplausError(f"{source}: field 'network' must be a table of numbers (sizes, rates, weights), got {network!r}.")
    return SpikingSpec(name=data.get("name", default_name), neuron=neuron, parameters={k: float(v) for k, v in params.items()},
                       network=dict(network), dt_ms=float(dt), target=target, description=data.get("description", ""))


def require_network(spec: SpikingSpec, keys: dict[str, str]) -> str | None:
    """A message naming the missing ``[network]`` keys (``key -> meaning``), or ``None``."""
    missing = [k for k in keys if k not in spec.network]
    if missing:
        wanted = ", ".join(f"{k} ({keys[k]})" for k in missing)
        return f"spiking model {spec.name!r} lacks [network] keys needed by this task: {wanted}."
    return None
