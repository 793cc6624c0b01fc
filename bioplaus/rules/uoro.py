"""Unbiased online recurrent optimisation (Tallec & Ollivier, ICLR 2018, Algorithm 1).

The influence matrix is replaced by a rank-one estimate ``M_t ~ h~_t w~_t^T`` per sequence
(``h~``: ``(n,)``, ``w~``: ``(n, n + m + 1)`` flattened to the parameters). With random
signs ``nu`` (``(n,)``, each ``+-1``)::

    h~_t = rho0 D_t h~_{t-1} + rho1 nu
    w~_t = w~_{t-1} / rho0 + (nu^T Mbar_t) / rho1,     (nu^T Mbar_t)[i, j] = nu_i alpha phi'(a_t,i) z_t,j

so ``E[h~_t w~_t^T] = D_t M_{t-1} + Mbar_t``: unbiased for any positive ``rho0, rho1``; the
variance-minimising choice is ``rho0 = sqrt(|w~_{t-1}| / |D_t h~_{t-1}|)``,
``rho1 = sqrt(|nu^T Mbar_t| / |nu|)`` (with the paper's small ``eps`` added to the norms).
The estimate is ``sum_t (c_t . h~_t) w~_t``. ``O(n^2)`` per step, like the forward pass
(:func:`uoro_step`: the per-sequence state is read for its norm, updated in place by one
rank-one product, and read once more for the estimate).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.rules.base import Batch
from bioplaus.rules.online import OnlineRule, SequencePass, accumulate, estimate_buffer


def uoro_step(h_tilde: Tensor, theta: Tensor, scale: Tensor, nu: Tensor, slope: Tensor, z: Tensor, credit: Tensor,
              w_rec: Tensor, alpha: float, eps: float = 1e-7) -> tuple[Tensor, Tensor, Tensor]:
    """One UORO update with random signs ``nu`` (``+-1``, ``(batch, n)``) and credit ``c_t`` ``(batch, n)``; returns ``(h~, scale, beta)``.

    ``w~ = scale * theta`` (``scale``: ``(batch,)``; ``theta``: ``(batch, n, n + m + 1)``, updated in place):
    dividing ``w~`` by ``rho0`` only changes ``scale``, so ``theta`` gets the rank-one
    ``(nu * slope / (rho1 scale)) z_t^T`` in one in-place pass (``nu^T Mbar_t = (nu * slope) z_t^T``
    is never formed). With the norm of ``theta`` this is the step's only work on the ``O(n^2)`` state.
    The step's estimate is ``(c_t . h~_t) w~_t = beta theta`` with ``beta = (c_t . h~_t) scale``
    (``(batch,)``), accumulated by :func:`bioplaus.rules.online.accumulate`.
    """
    dh = torch.mm(h_tilde, w_rec.t()).mul_(slope)  # D_t h~ (slope = alpha phi')
    if alpha != 1.0:
        dh.add_(h_tilde, alpha=1.0 - alpha)
    # scale > 0 always; for signs nu, |nu| = sqrt(n) and |nu * slope| = |slope|
    rho0 = torch.addcmul(_as(eps, scale), scale, torch.linalg.vector_norm(theta, dim=(1, 2))).div_(
        torch.linalg.vector_norm(dh, dim=1).add_(eps)).sqrt_()
    rho1 = torch.addcmul(_as(eps, scale), torch.linalg.vector_norm(slope, dim=1), torch.linalg.vector_norm(z, dim=1)).mul_(
        1.0 / (math.sqrt(nu.shape[1]) + eps)).sqrt_()
    h_new = dh.mul_(rho0[:, None]).addcmul_(nu, rho1[:, None])
    scale = scale / rho0
    theta.addcmul_((nu * slope).div_((rho1 * scale)[:, None])[:, :, None], z[:, None, :])
    low, high = torch.aminmax(scale)
    if float(high) > 1e20 or float(low) < 1e-20:  # keep the split of w~ into scale and theta within floating-point range
        far = (scale > 1e20) | (scale < 1e-20)
        theta.mul_(torch.where(far, scale, torch.ones_like(scale))[:, None, None])
        scale = torch.where(far, torch.ones_like(scale), scale)
    return h_new, scale, torch.linalg.vecdot(credit, h_new).mul_(scale)


def _as(value: float, like: Tensor) -> Tensor:
    return torch.tensor(value, dtype=like.dtype, device=like.device)


class UORO(OnlineRule):
    """Unbiased online recurrent optimisation: a rank-one, unbiased influence estimate."""

    name = "uoro"

    def __init__(self, eps: float = 1e-7, label: str | None = None, n_hidden: int | None = None,
                 model: dict[str, Any] | None = None, task: dict[str, Any] | None = None, update_every: int | None = None):
        super().__init__(label, n_hidden, model, task, update_every)
        self.eps = eps

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        traj, c = sp.trajectory, sp.credit
        batch_size, steps, n = c.shape
        w_rec = model.w_rec.detach().contiguous()  # a view of W otherwise: every use would stride
        if carry and "theta" in carry:
            h_tilde, theta, scale = carry["h_tilde"], carry["theta"], carry["scale"]
        else:
            h_tilde, theta, scale = c.new_zeros((batch_size, n)), c.new_zeros((batch_size, n, traj.z.shape[-1])), c.new_ones((batch_size,))
        grad = estimate_buffer(theta, per_sequence)
        signs = self.signs((steps, batch_size, n), c)  # the same stream as one draw per step
        for t in range(steps):
            h_tilde, scale, beta = uoro_step(h_tilde, theta, scale, signs[t], traj.slope[:, t], traj.z[:, t], c[:, t], w_rec,
                                             model.alpha, self.eps)
            accumulate(grad, beta, theta)
        if carry is not None:
            carry.update(h_tilde=h_tilde, theta=theta, scale=scale)
        return grad

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eps": self.eps}
