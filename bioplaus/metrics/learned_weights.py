"""Where does a rule end up compared with gradient descent from the same start?

A rule-trained network and a backprop-trained reference start from the same initial
weights W_0 and see the same batches. ``weight_change_angle`` is the angle between
their total changes ``W_rule - W_0`` and ``W_bp - W_0``; ``weight_distance`` is
``|W_rule - W_bp| / |W_bp - W_0|`` (0: same weights; 1: as far from backprop as
backprop moved).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bioplaus.metrics.angles import angles_by_group


def learned_weight_metrics(
    initial: dict[str, Tensor], rule: dict[str, Tensor], reference: dict[str, Tensor], groups: dict[str, list[str]]
) -> list[tuple[str, str, float]]:
    """``(metric, layer, value)`` rows per layer group and ``all``."""
    f64 = lambda t: t.detach().to(torch.float64)  # noqa: E731
    change_rule = {g: [f64(rule[k]) - f64(initial[k]) for k in ks] for g, ks in groups.items()}
    change_ref = {g: [f64(reference[k]) - f64(initial[k]) for k in ks] for g, ks in groups.items()}
    rows = [("weight_change_angle", g, v) for g, v in angles_by_group(change_rule, change_ref).items()]
    apart = {g: sum(float((x - y).square().sum()) for x, y in zip(change_rule[g], change_ref[g])) for g in groups}
    moved = {g: sum(float(y.square().sum()) for y in change_ref[g]) for g in groups}
    apart["all"], moved["all"] = sum(apart.values()), sum(moved.values())
    for g in [*groups, "all"]:
        if moved[g] > 0:
            rows.append(("weight_distance", g, math.sqrt(apart[g] / moved[g])))
    return rows
