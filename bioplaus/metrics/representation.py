"""Comparing what two networks represent: linear centred kernel alignment (CKA).

Kornblith, Norouzi, Lee & Hinton 2019, "Similarity of Neural Network Representations
Revisited" (ICML), Eq. for linear CKA:
``CKA(X, Y) = |Y^T X|_F^2 / (|X^T X|_F |Y^T Y|_F)`` for column-centred X ``(n, p1)``, Y ``(n, p2)``.
It is 1 for identical representations and invariant to orthogonal transforms and
isotropic scaling of either.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def linear_cka(x: Tensor, y: Tensor) -> float | None:
    """Linear CKA between activations ``x`` ``(n, p1)`` and ``y`` ``(n, p2)`` of the same n inputs.

    Returns ``None`` when either representation is constant over the inputs.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"CKA needs the same inputs: got {x.shape[0]} and {y.shape[0]} rows")
    x = x.detach().to(torch.float64)
    y = y.detach().to(torch.float64)
    x = x - x.mean(0, keepdim=True)
    y = y - y.mean(0, keepdim=True)
    n, p1, p2 = x.shape[0], x.shape[1], y.shape[1]
    if n < max(p1, p2):
        # Gram form: |Y^T X|_F^2 = <X X^T, Y Y^T>, cheaper when there are fewer inputs than units.
        kx, ky = x.mm(x.t()), y.mm(y.t())
        cross, nx, ny = (kx * ky).sum(), torch.linalg.norm(kx), torch.linalg.norm(ky)
    else:
        cross = y.t().mm(x).square().sum()
        nx, ny = torch.linalg.norm(x.t().mm(x)), torch.linalg.norm(y.t().mm(y))
    if not (nx > 0 and ny > 0):  # also catches NaN
        return None
    value = float(cross / (nx * ny))
    return value if math.isfinite(value) else None
