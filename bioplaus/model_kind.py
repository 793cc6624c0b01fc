"""What bioplaus needs to know about one kind of model, and the spec-validation helpers every kind uses.

Each kind's module (``bioplaus/rate/*.py``, ``bioplaus/spiking/task.py``) defines its
:class:`ModelKind`; :mod:`bioplaus.models` collects them. Capability names are listed in
:data:`CAPABILITIES`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch

from bioplaus.errors import BioplausError, allowed


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
        capabilities: ``spec -> frozenset`` of names from :data:`CAPABILITIES`.
        engine: ``"torch"`` (:func:`bioplaus.train.train_run`'s loop) or ``"brian2"`` (the
            spiking task's ``simulate``).
        prepare: ``spec -> None`` or ``None``: work a spec needs once before any of its runs starts (building a
            compiled kernel); raises :class:`BioplausError`, so that a failure stops the sweep before it runs.
    """

    name: str
    spec_type: type
    from_dict: Callable[[dict[str, Any], str, str], Any]
    build: Callable[[Any, torch.Generator | None], Any]
    check_task: Callable[[Any, Any], str | None] | None = None
    capabilities: Callable[[Any], frozenset[str]] = lambda spec: frozenset({"torch"})
    engine: str = "torch"
    prepare: Callable[[Any], None] | None = None


#: What a model can do, by name: rules list the ones they need in ``requires``.
CAPABILITIES: dict[str, str] = {
    "torch": "a PyTorch network with a reference gradient (every rate model)",
    "layered": "layer-by-layer credit through forward_pass (per-layer deltas; a feedforward net)",
    "layer_feedback": "layers whose backward pass a rule can replace (a feedforward net, or a convnet through bioplaus.wrap)",
    "energy": "an energy-based network that relaxes to a fixed point (kind = 'energy')",
    "energy:discrete": "an energy net with discrete-time dynamics s_(t+1) = dPhi/ds (formulation = 'energy')",
    "recurrent": "a recurrent network trained on sequences (kind = 'recurrent')",
    "recurrent:influence": "a recurrent cell whose parameters are one matrix W = [W_rec W_in b] (cell = 'vanilla' or 'influence_balancing')",
    "recurrent:sparse_attention": "an LSTM with a sparse attentive memory (cell = 'lstm', k_att > 0, k_top > 0)",
    "spiking:brian2": "a spiking network simulated by Brian2 (kind = 'spiking')",
    "spiking:torch": "a spiking (LIF / ALIF) network in torch whose reference gradient is surrogate-gradient BPTT (kind = 'spiking_torch')",
    "spiking:leaky_readout": ("a torch spiking network whose read-out is the leaky non-spiking y_t = kappa y_(t-1) + W_out z_t + b "
                              "(output = 'trace', 'mean' or 'max_membrane', not 'spike_count')"),
    "stochastic_units": "a layer of stochastic binary units whose exact gradient is a sum over their states (kind = 'stochastic')",
    "value_function": "a learned state-value function v_hat(s) = w . x(s) (kind = 'agent')",
    "policy": "a softmax policy over actions with its exact policy gradient (kind = 'agent')",
    "action_values": "a table of action values Q(s, a) acted on epsilon-greedily (kind = 'agent', behaviour = 'epsilon_greedy')",
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
