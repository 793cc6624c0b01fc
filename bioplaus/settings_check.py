"""Absurd settings caught when a protocol is built, before any run is stored.

Pure functions over a :class:`bioplaus.Protocol`'s fields, called once at the end of
``Protocol.__post_init__`` through :func:`check_settings`. Each problem is a one-paragraph
:class:`BioplausError` (exit 2 at the command line) naming the field, the value and what
is allowed; settings that are legal but rarely meant give a :class:`SettingsWarning`,
which the command line prints as one ``warning:`` line.

| setting | outcome |
|---|---|
| learning rate (``lr``, every ``layer_lr`` entry) not a finite number > 0 | error (1e-12 stays valid: learning-off controls) |
| optimizer keyword the optimizer does not take (``lrr``) | error listing the allowed keywords |
| a size field above :data:`MAX_UNITS`, or two that multiply past :data:`MAX_WEIGHTS` | error, before anything is allocated |
| ``batch_size`` larger than the task's training set | error |
| ``steps=0`` without a metric measured at fixed parameters | warning: only step-0 values are recorded |
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch

from bioplaus.errors import BioplausError, allowed
from bioplaus.tasks.base import Task
from bioplaus.tasks.data_choice import ByDataDir
from bioplaus.tasks.digits import Digits, digits_arrays
from bioplaus.tasks.mnist import MNIST
from bioplaus.tasks.one_hot import OneHotSquaredError

if TYPE_CHECKING:
    from bioplaus.protocol import Protocol

#: name in ``Protocol.optimizer`` -> torch optimizer class
OPTIMIZER_CLASSES: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "rmsprop": torch.optim.RMSprop,
}
#: optimizer keywords that a model kind's run loop takes itself, before building the optimizer
EXTRA_KEYWORDS: dict[str, tuple[str, ...]] = {"energy": ("layer_lr",)}
#: the largest unit count of one size field (a layer, a population, a channel count)
MAX_UNITS = 10**7
#: the largest product of two size fields: 1e9 float32 weights are 4 GB
MAX_WEIGHTS = 10**9
#: metrics measured at fixed parameters, which make ``steps=0`` a meaningful protocol
FIXED_PARAMETER_METRICS = ("estimate_bias_angle", "estimate_variance", "gdu_angle", "gdu_rel_error")


class SettingsWarning(UserWarning):
    """A protocol setting that is legal but rarely meant; the command line prints it as one line."""


def check_learning_rate(value: Any, where: str, field: str = "protocol field 'optimizer'") -> None:
    """``value`` must be a finite real number > 0 (``where`` names it in the error, e.g. ``"'lr'"``; ``field`` the
    setting it belongs to: the protocol's optimizer or a condition's)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise BioplausError(
            f"{field}: {where} must be a finite number > 0, got {value!r}. Tiny rates such as 1e-12 "
            f"are allowed (a learning-off control); a rate that is negative, zero, infinite or NaN is not.")


def check_optimizer(optimizer: tuple[str, dict[str, Any]], model_kind: str, field: str = "protocol field 'optimizer'") -> None:
    """Keywords against the torch optimizer's signature (plus :data:`EXTRA_KEYWORDS` of the model kind)
    and learning rates with :func:`check_learning_rate`. No optimizer is built here: the first one a
    process builds imports ``torch._dynamo`` (seconds), which would delay a run's first progress line;
    other values torch refuses (``momentum=-1``) are reported when the run builds its optimizer."""
    name, kwargs = optimizer
    cls = OPTIMIZER_CLASSES[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")]
    extra = EXTRA_KEYWORDS.get(model_kind, ())
    unknown = [k for k in kwargs if k not in accepted and k not in extra]
    if unknown:
        raise BioplausError(
            f"{field}: {name} does not take the keyword(s) {unknown}; allowed keywords are "
            f"{allowed(list(accepted) + list(extra))}" + (" ('layer_lr' only for energy models)" if "layer_lr" in unknown else "")
            + ".")
    if "lr" in kwargs:
        check_learning_rate(kwargs["lr"], "'lr'", field)
    layer_lr = kwargs.get("layer_lr")
    if layer_lr is not None:
        if not isinstance(layer_lr, dict):
            raise BioplausError(f"{field}: 'layer_lr' must be a dict {{layer name: learning rate}}, got {layer_lr!r}.")
        for layer, lr in layer_lr.items():
            check_learning_rate(lr, f"'layer_lr' of {layer!r}", field)


def _size_fields(data: Any, path: str = "") -> Iterable[tuple[str, int]]:
    """``(field path, count)`` for every unit count in a model spec's dict: entries of ``sizes`` and
    ``channels`` and every integer field named ``n_*``, at any depth."""
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if key in ("sizes", "channels") and isinstance(value, (list, tuple)):
                for i, v in enumerate(value):
                    if isinstance(v, int) and not isinstance(v, bool):
                        yield f"{where}[{i}]", v
            elif str(key).startswith("n_") and isinstance(value, int) and not isinstance(value, bool):
                yield where, value
            else:
                yield from _size_fields(value, where)


def check_sizes(model: dict[str, Any], model_name: str, overrides: dict[str, Any] | None = None, condition: str | None = None) -> None:
    """No size field above :data:`MAX_UNITS` and no two whose product passes :data:`MAX_WEIGHTS`.

    ``model``: the spec as a dict (``spec.to_dict()``); ``overrides``: fields applied on top.
    """
    fields = dict(_size_fields({**model, **(overrides or {})}))
    where = f"model '{model_name}'" + (f" (condition '{condition}')" if condition else "")
    for field, n in fields.items():
        if n > MAX_UNITS:
            raise BioplausError(
                f"{where}: field '{field}' is {n:,} units; at most {MAX_UNITS:,} are allowed per size field "
                f"(a layer of that size would not fit in memory next to its weights). Use a smaller size.")
    top = sorted(fields.items(), key=lambda kv: kv[1], reverse=True)[:2]
    if len(top) == 2 and top[0][1] * top[1][1] > MAX_WEIGHTS:
        (fa, a), (fb, b) = top
        raise BioplausError(
            f"{where}: fields '{fa}' = {a:,} and '{fb}' = {b:,} imply up to {a * b:,} weights; at most {MAX_WEIGHTS:,} "
            f"(4 GB of float32) are allowed. Use smaller sizes.")


def training_set_size(task: Task) -> int | None:
    """Examples in a task's training set, or ``None`` for tasks that draw fresh samples every batch.

    Digits: scikit-learn's 1797 images minus the 360 held out (:func:`bioplaus.tasks.digits.digits_arrays`);
    MNIST: its 60,000 training images. Wrappers (one-hot loss, data choice) report their task's.
    """
    if isinstance(task, OneHotSquaredError):
        return training_set_size(task.task)
    if isinstance(task, ByDataDir):
        return training_set_size(task.default)
    if isinstance(task, Digits):
        return len(digits_arrays()[0])
    if isinstance(task, MNIST):
        return 60_000
    return None


def check_batch_size(batch_size: int, task: Task) -> None:
    """A batch may not be larger than the training set it is drawn from."""
    n = training_set_size(task)
    if n is not None and batch_size > n:
        raise BioplausError(
            f"protocol field 'batch_size' is {batch_size}, but task '{task.name}' has {n} training examples; "
            f"a batch can hold at most {n} (use batch_size <= {n}).")


def check_steps(steps: int, metrics: list[str]) -> None:
    """``steps=0`` trains nothing: a warning unless a metric is measured at fixed parameters."""
    if steps == 0 and not set(metrics) & set(FIXED_PARAMETER_METRICS):
        warnings.warn(
            f"protocol field 'steps' is 0: nothing is trained and only step-0 values are recorded (steps=0 is meant "
            f"for the fixed-parameter metrics {', '.join(FIXED_PARAMETER_METRICS)}).", SettingsWarning, stacklevel=4)


def check_settings(protocol: Protocol) -> None:
    """Every check above on a built protocol (called at the end of ``Protocol.__post_init__``)."""
    check_optimizer(protocol.optimizer, protocol.model.kind)
    model = protocol.model.to_dict()
    name = getattr(protocol.model, "name", None) or model.get("name", "?")
    check_sizes(model, name)
    for c in protocol.conditions:  # a condition with a model of its own (Condition(model=...)) is checked too
        if c.model is not protocol.model:
            check_sizes(c.model.to_dict(), getattr(c.model, "name", name), condition=c.label)
    check_batch_size(protocol.batch_size, protocol.task)
    check_steps(protocol.steps, protocol.metrics)
