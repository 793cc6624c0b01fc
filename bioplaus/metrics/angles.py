"""Angles between update vectors, computed so that they are accurate near 0 and 180 degrees.

``theta = 2 atan2(|a^ - b^|, |a^ + b^|)`` with unit vectors ``a^, b^`` (Kahan's
formula) in float64: it never returns NaN and keeps full relative accuracy for tiny
angles, where ``acos`` of a cosine loses half the digits. An angle with a zero vector
is undefined and returned as ``None`` (no metric row is written).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor


def flat64(tensors: Iterable[Tensor]) -> Tensor:
    """Concatenate tensors into one float64 vector."""
    return torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])


def angle_from_norms(diff_sq: float, sum_sq: float) -> float:
    """``2 atan2(|a^ - b^|, |a^ + b^|)`` in degrees, from the two squared norms."""
    return math.degrees(2.0 * math.atan2(math.sqrt(max(diff_sq, 0.0)), math.sqrt(max(sum_sq, 0.0))))


def angle_deg(a: Tensor | Iterable[Tensor], b: Tensor | Iterable[Tensor]) -> float | None:
    """Angle in degrees between ``vec(a)`` and ``vec(b)``; ``None`` if either is zero."""
    va = flat64([a] if isinstance(a, Tensor) else a)
    vb = flat64([b] if isinstance(b, Tensor) else b)
    if va.shape != vb.shape:
        raise ValueError(f"angle between vectors of different sizes: {va.numel()} and {vb.numel()}")
    na, nb = torch.linalg.vector_norm(va), torch.linalg.vector_norm(vb)
    if na == 0 or nb == 0 or not (torch.isfinite(na) and torch.isfinite(nb)):
        return None
    ua, ub = va / na, vb / nb
    return angle_from_norms(float((ua - ub).square().sum()), float((ua + ub).square().sum()))


def grouped_angles(a: dict[str, Tensor], b: dict[str, Tensor], groups: dict[str, list[str]]) -> dict[str, float]:
    """Angles per group of keys and for all keys together (group ``all``), skipping zero vectors."""
    out: dict[str, float] = {}
    for group, keys in {**groups, "all": [k for ks in groups.values() for k in ks]}.items():
        theta = angle_deg([a[k] for k in keys], [b[k] for k in keys])
        if theta is not None:
            out[group] = theta
    return out
