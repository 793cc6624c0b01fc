"""Unbiased online recurrent optimisation (Tallec & Ollivier, ICLR 2018, Algorithm 1).

The influence matrix is replaced by a rank-one estimate ``M_t ~ h~_t w~_t^T`` per sequence
(``h~``: ``(n,)``, ``w~``: ``(n, n + m + 1)`` flattened to the parameters). With random
signs ``nu`` (``(n,)``, each ``+-1``)::

    h~_t = rho0 D_t h~_{t-1} + rho1 nu
    w~_t = w~_{t-1} / rho0 + (nu^T Mbar_t) / rho1,     (nu^T Mbar_t)[i, j] = nu_i alpha phi'(a_t,i) z_t,j

so ``E[h~_t w~_t^T] = D_t M_{t-1} + Mbar_t``: unbiased for any positive ``rho0, rho1``; the
variance-minimising choice is ``rho0 = sqrt(|w~_{t-1}| / |D_t h~_{t-1}|)``,
``rho1 = sqrt(|nu^T Mbar_t| / |nu|)`` (with the paper's small ``eps`` added to the norms).
The estimate is ``sum_t (c_t . h~_t) w~_t``. ``O(n^2)`` per step, like the forward pass.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.rate.recurrent import jacobian_product
from bioplaus.rules.base import Batch
from bioplaus.rules.online import OnlineRule, SequencePass


def uoro_step(h_tilde: Tensor, w_stored: Tensor, scale: Tensor, nu: Tensor, slope: Tensor, z: Tensor, w_rec: Tensor,
              alpha: float, eps: float = 1e-7) -> tuple[Tensor, Tensor, Tensor]:
    """One UORO update with signs ``nu`` ``(batch, n)``; returns ``(h~, w_stored, scale)``.

    ``w~ = scale * w_stored`` (``scale``: ``(batch,)``): dividing ``w~`` by ``rho0`` only changes
    ``scale``, so the large state ``w_stored`` ``(batch, n, n + m + 1)`` is read once for its norm
    and updated once, in place. ``nu^T Mbar_t`` is the outer product ``(nu * slope) z^T``, so its
    norm is ``|nu * slope| |z|`` and it is never formed on its own.
    """
    dh = jacobian_product(h_tilde, slope, w_rec, alpha)
    nu_slope = nu * slope
    rho0 = torch.sqrt((scale.abs() * w_stored.flatten(1).norm(dim=1) + eps) / (dh.norm(dim=1) + eps))
    rho1 = torch.sqrt((nu_slope.norm(dim=1) * z.norm(dim=1) + eps) / (nu.norm(dim=1) + eps))
    h_new = rho0[:, None] * dh + rho1[:, None] * nu
    scale = scale / rho0
    w_stored.addcmul_((nu_slope / (rho1 * scale)[:, None])[:, :, None], z[:, None, :])
    far = (scale.abs() > 1e20) | (scale.abs() < 1e-20)
    if bool(far.any()):  # keep the split of w~ into scale and w_stored within floating-point range
        w_stored.mul_(torch.where(far, scale, torch.ones_like(scale))[:, None, None])
        scale = torch.where(far, torch.ones_like(scale), scale)
    return h_new, w_stored, scale


class UORO(OnlineRule):
    """Unbiased online recurrent optimisation: a rank-one, unbiased influence estimate."""

    name = "uoro"

    def __init__(self, eps: float = 1e-7, label: str | None = None, n_hidden: int | None = None,
                 model: dict[str, Any] | None = None, task: dict[str, Any] | None = None):
        super().__init__(label, n_hidden, model, task)
        self.eps = eps

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass) -> Tensor:
        traj, c = sp.trajectory, sp.credit
        batch_size, steps, n = c.shape
        w_rec = model.w_rec.detach()
        h_tilde = c.new_zeros((batch_size, n))
        w_stored = c.new_zeros((batch_size, n, traj.z.shape[-1]))
        scale = c.new_ones((batch_size,))
        grad = torch.zeros_like(w_stored)
        for t in range(steps):
            nu = self.signs((batch_size, n), c)
            h_tilde, w_stored, scale = uoro_step(h_tilde, w_stored, scale, nu, traj.slope[:, t], traj.z[:, t], w_rec, model.alpha, self.eps)
            grad.addcmul_(((c[:, t] * h_tilde).sum(1) * scale)[:, None, None], w_stored)
        return grad

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eps": self.eps}
