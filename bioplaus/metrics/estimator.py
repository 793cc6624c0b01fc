"""Statistics of stochastic gradient estimators: bias and variance against the exact gradient.

For a rule whose estimate ``g_hat`` is random (perturbation, REINFORCE, UORO, three-factor
rules), draw ``m`` independent estimates ``g_1..g_m`` at fixed parameters and compare
with the exact gradient ``g``:

- ``estimate_bias_angle``: the angle (degrees) between the mean ``(1/m) sum_i g_i`` and
  ``g``. For an unbiased estimator it falls towards 0 as ``m`` grows (roughly like
  ``sqrt(variance / m)`` while small); a biased one levels off at the bias's angle.
- ``estimate_variance``: ``tr Cov(g_hat) / |g|^2``, the trace of the sample covariance
  (``m - 1`` in the denominator, so ``m >= 2``) over the squared norm of the gradient:
  dimensionless, comparable across network sizes and rules.

Both are stored with ``step = m`` (DESIGN.md), so that a curve against ``m`` is one query.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bioplaus.metrics.angles import angle_deg


def _stack64(estimates: Tensor | list[Tensor]) -> Tensor:
    """``(m, d)`` float64 from an ``(m, ...)`` tensor or a list of ``m`` equally shaped tensors."""
    x = torch.stack([e.detach() for e in estimates]) if isinstance(estimates, list) else estimates.detach()
    return x.reshape(x.shape[0], -1).to(torch.float64)


def estimate_bias_angle(estimates: Tensor | list[Tensor], gradient: Tensor) -> float | None:
    """Angle (degrees) between the mean of ``m`` estimates ``(m, ...)`` and ``gradient`` (``...``); ``None`` if either is zero."""
    x = _stack64(estimates)
    return angle_deg(x.mean(0), gradient.detach().reshape(-1).to(torch.float64))


def estimate_variance(estimates: Tensor | list[Tensor], gradient: Tensor) -> float | None:
    """``tr Cov / |gradient|^2`` of ``m >= 2`` estimates ``(m, ...)``; ``None`` if the gradient is zero."""
    x = _stack64(estimates)
    if x.shape[0] < 2:
        raise ValueError(f"estimate_variance needs at least 2 estimates, got {x.shape[0]}")
    g2 = float(gradient.detach().to(torch.float64).square().sum())
    if g2 == 0.0:
        return None
    centred = x - x.mean(0, keepdim=True)
    return float(centred.square().sum()) / (x.shape[0] - 1) / g2


def estimator_curve(estimates: Tensor | list[Tensor], gradient: Tensor, ms: list[int]) -> list[tuple[int, str, float]]:
    """``(m, metric, value)`` rows of both statistics over the first ``m`` estimates, for each ``m`` in ``ms``."""
    x = _stack64(estimates)
    rows: list[tuple[int, str, float]] = []
    for m in ms:
        if m > x.shape[0]:
            raise ValueError(f"asked for m = {m} but only {x.shape[0]} estimates were given")
        bias = estimate_bias_angle(x[:m], gradient)
        if bias is not None:
            rows.append((m, "estimate_bias_angle", bias))
        if m >= 2:
            var = estimate_variance(x[:m], gradient)
            if var is not None:
                rows.append((m, "estimate_variance", var))
    return rows
