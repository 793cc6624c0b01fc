"""Angles between update vectors, computed so that they are accurate near 0 and 180 degrees.

``theta = 2 atan2(|a^ - b^|, |a^ + b^|)`` with unit vectors ``a^, b^`` (Kahan's
formula) in float64: it never returns NaN and keeps full relative accuracy for tiny
angles, where ``acos`` of a cosine loses half the digits. Since
``|a^ - b^|^2 + |a^ + b^|^2 = 4``, only the smaller of the two is computed directly
and the other follows without cancellation. An angle with a zero vector is
undefined and returned as ``None`` (no metric row is written). Inputs are squared in
float64 without rescaling, which is exact for any float32 data; float64 vectors with
entries beyond about 1e+-150 would under- or overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import Tensor


def flat64(tensors: Iterable[Tensor]) -> Tensor:
    """Concatenate tensors into one float64 vector."""
    return torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])


def angle_from_norms(diff_sq: float, sum_sq: float) -> float:
    """``2 atan2(|a^ - b^|, |a^ + b^|)`` in degrees, from the two squared norms."""
    return math.degrees(2.0 * math.atan2(math.sqrt(max(diff_sq, 0.0)), math.sqrt(max(sum_sq, 0.0))))


def angle_from_combination(combo_sq: Callable[[float], float]) -> float:
    """The angle between unit vectors given ``combo_sq(s) = |a^ + s b^|^2`` for ``s = -1, +1``.

    Computes ``|a^ - b^|^2``, and ``|a^ + b^|^2`` directly only for angles above 120
    degrees, where ``4 - |a^ - b^|^2 < 1`` would start to lose relative accuracy; below,
    the identity costs nothing and loses nothing (the second combination is the
    dearer half of an update angle near 90 degrees, where FA-like rules start).
    """
    diff = combo_sq(-1.0)
    if diff <= 3.0:
        return angle_from_norms(diff, 4.0 - diff)
    total = combo_sq(1.0)
    return angle_from_norms(4.0 - total, total)


# |cos| below cos(20 deg): the cosine is accurate enough (its rounding error eps moves the
# angle by eps / sin(theta) <= 3 eps); nearer 0 or 180 degrees it loses half the digits.
COSINE_ROUTE = math.cos(math.radians(20.0))


def angle_from_cosine_or_combination(cos: float, combo_sq: Callable[[float], float]) -> float:
    """The angle from its cosine between 20 and 160 degrees, else from :func:`angle_from_combination`.

    The cosine costs one inner product; the combination forms ``a^ -+ b^`` first, which
    costs a pass over both vectors but stays accurate near 0 and 180 degrees.
    """
    if abs(cos) < COSINE_ROUTE:
        return math.degrees(math.acos(cos))
    return angle_from_combination(combo_sq)


def angles_by_group(a: dict[str, list[Tensor]], b: dict[str, list[Tensor]]) -> dict[str, float]:
    """Angle between ``vec(a[g])`` and ``vec(b[g])`` for every group ``g`` and for all groups together (``all``).

    Each group is a list of tensors (e.g. a layer's weight and bias); nothing is
    concatenated, and every tensor is cast to float64 once. Groups where either side
    is zero get no entry.
    """
    a64 = {g: [t.detach().to(torch.float64) for t in ts] for g, ts in a.items()}
    b64 = {g: [t.detach().to(torch.float64) for t in ts] for g, ts in b.items()}
    sq_a = {g: sum(float(torch.dot(t.reshape(-1), t.reshape(-1))) for t in ts) for g, ts in a64.items()}
    sq_b = {g: sum(float(torch.dot(t.reshape(-1), t.reshape(-1))) for t in ts) for g, ts in b64.items()}
    dot = {g: sum(float(torch.dot(x.reshape(-1), y.reshape(-1))) for x, y in zip(a64[g], b64[g])) for g in a64}

    def angle(groups: list[str], na: float, nb: float) -> float | None:
        if not (na > 0 and nb > 0 and math.isfinite(na) and math.isfinite(nb)):
            return None

        def combo_sq(s: float) -> float:
            return sum(
                float((x / na + s * (y / nb)).square().sum())
                for g in groups for x, y in zip(a64[g], b64[g])
            )

        return angle_from_cosine_or_combination(sum(dot[g] for g in groups) / (na * nb), combo_sq)

    out: dict[str, float] = {}
    for g in a64:
        theta = angle([g], math.sqrt(sq_a[g]), math.sqrt(sq_b[g]))
        if theta is not None:
            out[g] = theta
    if len(a64) == 1:
        theta = next(iter(out.values()), None)
    else:
        theta = angle(list(a64), math.sqrt(sum(sq_a.values())), math.sqrt(sum(sq_b.values())))
    if theta is not None:
        out["all"] = theta
    return out


def angle_deg(a: Tensor | Iterable[Tensor], b: Tensor | Iterable[Tensor]) -> float | None:
    """Angle in degrees between ``vec(a)`` and ``vec(b)``; ``None`` if either is zero."""
    la = [a] if isinstance(a, Tensor) else list(a)
    lb = [b] if isinstance(b, Tensor) else list(b)
    if sum(t.numel() for t in la) != sum(t.numel() for t in lb):
        raise ValueError("angle between vectors of different sizes")
    va, vb = flat64(la), flat64(lb)
    return angles_by_group({"v": [va]}, {"v": [vb]}).get("v")


def grouped_angles(a: dict[str, Tensor], b: dict[str, Tensor], groups: dict[str, list[str]]) -> dict[str, float]:
    """Angles per group of keys (e.g. a layer's parameter names) and for all keys together (``all``)."""
    return angles_by_group({g: [a[k] for k in ks] for g, ks in groups.items()}, {g: [b[k] for k in ks] for g, ks in groups.items()})
