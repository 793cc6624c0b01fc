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
rank-one product, and read once more for the estimate; the compiled loop of
:mod:`bioplaus.rules.ckernels`, used when it can run, does all three in one pass).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.rules import ckernels
from bioplaus.core import Batch
from bioplaus.rules.online import OnlineRule, SequencePass, accumulate, estimate_buffer


def uoro_constants(signs: Tensor, slope: Tensor, z: Tensor, eps: float = 1e-7) -> tuple[Tensor, Tensor]:
    """What UORO needs of every step before the loop, for all steps at once: ``(rho1 nu, nu slope / rho1)``.

    ``signs``: ``nu`` per step, ``(steps, batch, n)``; ``slope`` (``alpha phi'``) ``(batch, steps, n)``
    and ``z`` ``(batch, steps, n + m + 1)`` from the trajectory. With
    ``rho1 = sqrt((|nu^T Mbar_t| + eps) / (|nu| + eps))`` and, for signs, ``|nu^T Mbar_t| = |slope_t| |z_t|``
    and ``|nu| = sqrt(n)``, the returned ``rho1 nu`` is what ``h~`` gains and ``nu slope / rho1``
    the row factor of ``w~``'s rank-one gain ``(nu^T Mbar_t) / rho1``, both ``(steps, batch, n)``.
    Neither depends on the recursion; forming them in a few operations over the whole
    sequence spares each step half a dozen small operations, which on a CPU cost more than
    their arithmetic.
    """
    norms = torch.linalg.vector_norm(slope, dim=2).mul_(torch.linalg.vector_norm(z, dim=2)).add_(eps)
    rho1 = norms.mul_(1.0 / (math.sqrt(signs.shape[2]) + eps)).sqrt_().t()[:, :, None]  # (steps, batch, 1)
    return signs * rho1, (signs * slope.transpose(0, 1)).div_(rho1)


def uoro_step(h_tilde: Tensor, theta: Tensor, scale: Tensor, kick: Tensor, push: Tensor, slope: Tensor, z: Tensor,
              credit: Tensor, w_rec_t: Tensor, alpha: float, eps: float = 1e-7) -> tuple[Tensor, Tensor, Tensor]:
    """One UORO update; returns ``(h~, scale, beta)``.

    ``kick = rho1 nu`` and ``push = nu slope / rho1`` (``(batch, n)``) come from
    :func:`uoro_constants`; ``credit`` is ``c_t`` ``(batch, n)``; ``w_rec_t`` is ``W_rec^T``,
    contiguous (a product with the transposed view of ``W_rec`` costs twice as much).
    ``w~ = scale * theta`` (``scale``: ``(batch,)``; ``theta``: ``(batch, n, n + m + 1)``, updated in place):
    dividing ``w~`` by ``rho0`` only changes ``scale``, so ``theta`` gets the rank-one
    ``(push / scale) z_t^T`` in one in-place pass (``nu^T Mbar_t = (nu * slope) z_t^T``
    is never formed). With the norm of ``theta`` this is the step's only work on the ``O(n^2)`` state.
    The step's estimate is ``(c_t . h~_t) w~_t = beta theta`` with ``beta = (c_t . h~_t) scale``
    (``(batch,)``), accumulated by :func:`bioplaus.rules.online.accumulate`.
    """
    dh = torch.mm(h_tilde, w_rec_t).mul_(slope)  # D_t h~ (slope = alpha phi')
    if alpha != 1.0:
        dh.add_(h_tilde, alpha=1.0 - alpha)
    # rho0 = sqrt((|w~| + eps) / (|D h~| + eps)); scale > 0 always
    rho0 = torch.linalg.vector_norm(theta, dim=(1, 2)).mul_(scale).add_(eps).div_(torch.linalg.vector_norm(dh, dim=1).add_(eps)).sqrt_()
    h_new = dh.mul_(rho0[:, None]).add_(kick)
    scale = scale / rho0
    theta.addcmul_(push.div(scale[:, None])[:, :, None], z[:, None, :])
    low, high = (float(v) for v in torch.aminmax(scale))
    if high > 1e20 or low < 1e-20:  # keep the split of w~ into scale and theta within floating-point range
        far = (scale > 1e20) | (scale < 1e-20)
        theta.mul_(torch.where(far, scale, torch.ones_like(scale))[:, None, None])
        scale = torch.where(far, torch.ones_like(scale), scale)
    return h_new, scale, torch.linalg.vecdot(credit, h_new).mul_(scale)


class UORO(OnlineRule):
    """Unbiased online recurrent optimisation: a rank-one, unbiased influence estimate."""

    name = "uoro"
    title = "UORO"
    colour = "#2ca02c"

    def __init__(self, eps: float = 1e-7, label: str | None = None, update_every: int | None = None):
        super().__init__(label, update_every)
        self.eps = eps

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        traj, c = sp.trajectory, sp.credit
        batch_size, steps, n = c.shape
        w_rec_t = model.w_rec.detach().t().contiguous()  # W_rec^T: a product with a transposed view costs twice as much
        if carry and "theta" in carry:
            h_tilde, theta, scale = carry["h_tilde"], carry["theta"], carry["scale"]
        else:
            h_tilde, theta, scale = c.new_zeros((batch_size, n)), c.new_zeros((batch_size, n, traj.z.shape[-1])), c.new_ones((batch_size,))
        grad = estimate_buffer(theta, per_sequence)
        signs = self.signs((steps, batch_size, n), c)  # the same stream as one draw per step
        kick, push = uoro_constants(signs, traj.slope, traj.z, self.eps)
        # the whole sequence in one compiled loop when possible (bioplaus.rules.ckernels), else step by step
        if not ckernels.uoro_sequence(h_tilde, theta, scale, kick, push, traj.slope.contiguous(), traj.z.contiguous(),
                                      c.contiguous(), w_rec_t, model.alpha, self.eps, grad):
            for t in range(steps):
                h_tilde, scale, beta = uoro_step(h_tilde, theta, scale, kick[t], push[t], traj.slope[:, t], traj.z[:, t],
                                                 c[:, t], w_rec_t, model.alpha, self.eps)
                accumulate(grad, beta, theta)
        if carry is not None:
            carry.update(h_tilde=h_tilde, theta=theta, scale=scale)
        return grad

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eps": self.eps}
