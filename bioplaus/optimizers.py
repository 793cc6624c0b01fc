"""The optimizers a protocol can name: ``(name, kwargs)`` -> a ``torch.optim`` optimizer.

Training writes a rule's estimate into ``p.grad`` and steps one of these, so every rule
is applied by the same optimizer as backprop; Kolen-Pollack builds its feedback
weights' optimizer the same way.
"""

from __future__ import annotations

from typing import Any

import torch

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}


def make_optimizer(spec: tuple[str, dict[str, Any]], params) -> torch.optim.Optimizer:
    """``spec = (name, kwargs)`` with ``name`` in :data:`OPTIMIZERS`, over ``params`` (tensors or parameter groups)."""
    name, kwargs = spec
    return OPTIMIZERS[name](params, **kwargs)
