"""The nudging of an energy net's output toward its target (Scellier & Bengio 2017, Sec. 2).

EP's nudged phase relaxes ``E + beta * l(s_L, y)``: the extra force on the output units is
``-beta dl/ds_L``; clamped phases pin ``s_L`` to the target itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.tasks.base import squared_error
from bioplaus.tasks.one_hot import one_hot_squared_error


def nudging_force(batch: Batch, beta: float):
    """``s_L -> -beta dl/ds_L``: the force of ``beta * l`` on the output, ``l`` = batch loss x batch size."""
    if batch.loss_fn is squared_error or batch.loss_fn is one_hot_squared_error:  # no autograd per relaxation step
        cache: dict[str, Tensor] = {}

        def squared_error_force(o: Tensor) -> Tensor:
            if "y" not in cache:
                cache["y"] = output_target(batch, o.shape[1], o.dtype)
            return beta * (cache["y"] - o)

        return squared_error_force

    def force(o: Tensor) -> Tensor:
        with torch.enable_grad():
            o = o.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(batch.loss_fn(o, batch.y) * o.shape[0], o)
        return -beta * g

    return force


def output_target(batch: Batch, n_out: int, dtype: torch.dtype) -> Tensor:
    """The output a clamped phase pins: ``y`` itself, or one-hot ``y`` for class indices ``(batch,)``."""
    if batch.y.dtype in (torch.int64, torch.int32, torch.long):
        return F.one_hot(batch.y, n_out).to(dtype)
    return batch.y.to(dtype)
