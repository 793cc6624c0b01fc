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

``load("mlp_digits")`` finds ``mlp_digits.toml`` (:mod:`bioplaus.model_files`: ``$BIOPLAUS_MODELS``,
``./models``, the source tree's ``models/``; a path ending in ``.toml`` is read directly),
validates it and returns its spec; ``build(spec, generator)`` makes the model.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from bioplaus.errors import BioplausError, allowed
from bioplaus.model_files import REPO_ROOT, available, find, load_toml, search_path  # noqa: F401  (re-exported)
from bioplaus.model_kind import CAPABILITIES, ModelKind, check_fields, default_layer_names, spec_dict  # noqa: F401  (re-exported)
from bioplaus.rate.convnet import KIND as CONVNET
from bioplaus.rate.energy import KIND as ENERGY
from bioplaus.rate.feedforward import KIND as FEEDFORWARD
from bioplaus.rate.recurrent import KIND as RECURRENT
from bioplaus.rl.agent import KIND as AGENT
from bioplaus.rate.stochastic import KIND as STOCHASTIC
from bioplaus.snn.lif import KIND as SPIKING_TORCH
from bioplaus.spiking.task import KIND as SPIKING

#: every kind of model, by the ``kind`` written in spec files
KINDS: dict[str, ModelKind] = {k.name: k for k in (FEEDFORWARD, SPIKING, CONVNET, ENERGY, RECURRENT, SPIKING_TORCH, STOCHASTIC, AGENT)}


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
