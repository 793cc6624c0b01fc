"""Where does a rule end up compared with gradient descent from the same start?

A rule-trained network and a backprop-trained reference start from the same initial
weights W_0 and see the same batches. ``weight_change_angle`` is the angle between
their total changes ``W_rule - W_0`` and ``W_bp - W_0``; ``weight_distance`` is
``|W_rule - W_bp| / |W_bp - W_0|`` (0: same weights; 1: as far from backprop as
backprop moved).
"""

from __future__ import annotations

import torch
from torch import Tensor

from bioplaus.metrics.angles import angle_deg, flat64


def learned_weight_metrics(
    initial: dict[str, Tensor], rule: dict[str, Tensor], reference: dict[str, Tensor], groups: dict[str, list[str]]
) -> list[tuple[str, str, float]]:
    """``(metric, layer, value)`` rows per layer group and ``all``."""
    rows: list[tuple[str, str, float]] = []
    for name, keys in {**groups, "all": [k for ks in groups.values() for k in ks]}.items():
        w0 = flat64(initial[k] for k in keys)
        wr = flat64(rule[k] for k in keys)
        wb = flat64(reference[k] for k in keys)
        theta = angle_deg(wr - w0, wb - w0)
        if theta is not None:
            rows.append(("weight_change_angle", name, theta))
        moved = float(torch.linalg.vector_norm(wb - w0))
        if moved > 0:
            rows.append(("weight_distance", name, float(torch.linalg.vector_norm(wr - wb)) / moved))
    return rows


def snapshot(params: dict[str, Tensor]) -> dict[str, Tensor]:
    """Detached copies of parameters."""
    return {k: v.detach().clone() for k, v in params.items()}


def state_of(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v for k, v in model.named_parameters()}
