"""Where does a rule end up compared with gradient descent from the same start?

A rule-trained network and a backprop-trained reference start from the same initial
weights W_0 and see the same batches. ``weight_change_angle`` is the angle between
their total changes ``W_rule - W_0`` and ``W_bp - W_0``; ``weight_distance`` is
``|W_rule - W_bp| / |W_bp - W_0|`` (0: same weights; 1: as far from backprop as
backprop moved).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from bioplaus.metrics.angles import angle_from_cosine_or_combination

# Elements per float64 slice: large float64 temporaries cost a page fault per 4 KiB
# on first touch (~9 ms for a 784x1000 layer here); slices of 256 KiB are not.
CHUNK = 1 << 15


def _slices(initial: list[Tensor], rule: list[Tensor], reference: list[Tensor]) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Aligned float64 slices ``(W_0, W_rule, W_bp)`` of a group's flattened parameters."""
    for w0, w1, w2 in zip(initial, rule, reference):
        f0, f1, f2 = (t.detach().reshape(-1) for t in (w0, w1, w2))
        for start in range(0, f0.numel(), CHUNK):
            end = start + CHUNK
            yield f0[start:end].double(), f1[start:end].double(), f2[start:end].double()


def learned_weight_metrics(
    initial: dict[str, Tensor], rule: dict[str, Tensor], reference: dict[str, Tensor], groups: dict[str, list[str]]
) -> list[tuple[str, str, float]]:
    """``(metric, layer, value)`` rows per layer group and ``all``.

    Works through float64 slices of the weights: one pass accumulates ``|dW_rule|^2``,
    ``|dW_bp|^2``, their inner product and ``|W_rule - W_bp|^2`` (formed directly, so a
    rule that ends next to backprop keeps its digits); a second pass is made only for
    angles within 20 degrees of 0 or 180 (see :func:`angle_from_cosine_or_combination`).
    """
    parts = {g: ([initial[k] for k in ks], [rule[k] for k in ks], [reference[k] for k in ks]) for g, ks in groups.items()}
    sums: dict[str, list[float]] = {}  # group -> [|dW_rule|^2, |dW_bp|^2, <dW_rule, dW_bp>, |W_rule - W_bp|^2]
    for g, (w0, w1, w2) in parts.items():
        acc = [0.0, 0.0, 0.0, 0.0]
        for a0, a1, a2 in _slices(w0, w1, w2):
            c1, c2, apart = a1 - a0, a2 - a0, a1 - a2
            acc[0] += float(torch.dot(c1, c1))
            acc[1] += float(torch.dot(c2, c2))
            acc[2] += float(torch.dot(c1, c2))
            acc[3] += float(torch.dot(apart, apart))
        sums[g] = acc
    sums["all"] = [sum(v[i] for v in sums.values()) for i in range(4)]

    def combo_sq(members: list[str], n1: float, n2: float, s: float) -> float:
        total = 0.0
        for g in members:
            for a0, a1, a2 in _slices(*parts[g]):
                u = (a1 - a0) / n1 + s * ((a2 - a0) / n2)
                total += float(torch.dot(u, u))
        return total

    rows = []
    for g in [*groups, "all"]:
        sq1, sq2, inner, _ = sums[g]
        if sq1 > 0 and sq2 > 0 and math.isfinite(sq1) and math.isfinite(sq2):
            n1, n2 = math.sqrt(sq1), math.sqrt(sq2)
            members = list(groups) if g == "all" else [g]
            theta = angle_from_cosine_or_combination(inner / (n1 * n2), lambda s, m=members, a=n1, b=n2: combo_sq(m, a, b, s))
            rows.append(("weight_change_angle", g, theta))
    for g in [*groups, "all"]:
        if sums[g][1] > 0:
            rows.append(("weight_distance", g, math.sqrt(sums[g][3] / sums[g][1])))
    return rows
