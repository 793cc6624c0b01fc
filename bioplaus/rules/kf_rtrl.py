"""Kronecker-factored RTRL (Mujika, Meier & Steger, NeurIPS 2018, Sec. 4).

For parameters that act as ``a_t = W z_t`` the influence is approximated per sequence by a
Kronecker product ``M_t[k, i, j] ~ A_t[k, i] u_t[j]`` (``u_t``: ``(n + m + 1,)``, ``A_t``:
``(n, n)``). ``D_t M_{t-1} + Mbar_t`` is then a sum of two Kronecker products,
``u_{t-1} (x) D_t A_{t-1} + z_t (x) H_t`` with ``H_t = diag(alpha phi'(a_t))``, and with random
signs ``c1, c2`` (``+-1``) the factors::

    u_t = c1 p1 u_{t-1} + c2 p2 z_t,    A_t = c1 D_t A_{t-1} / p1 + c2 H_t / p2

are unbiased for it for any positive ``p1, p2``; ``p1 = sqrt(|D_t A_{t-1}| / |u_{t-1}|)``,
``p2 = sqrt(|H_t| / |z_t|)`` minimise the variance (their Lemma 1). The estimate is
``sum_t (c_t A_t) (x) u_t``. ``O(n^3)`` per step (the product ``W_rec A``); vanilla RNN only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.rules import ckernels
from bioplaus.core import Batch
from bioplaus.rules.online import OnlineRule, SequencePass


def kf_rtrl_product(a: Tensor, a_next: Tensor, scaled: Tensor, slope: Tensor, w_rec: Tensor, alpha: float) -> Tensor:
    """``D_t A_{t-1}`` into ``a_next`` (returned), with ``D_t = diag(alpha phi') W_rec + (1 - alpha) I``
    (``slope`` = ``alpha phi'``, ``(batch, n)``): one batched product, ``scaled`` holding ``diag(slope) W_rec``."""
    torch.mul(slope[:, :, None], w_rec, out=scaled)
    if alpha == 1.0:
        return torch.bmm(scaled, a, out=a_next)
    return torch.baddbmm(a, scaled, a, beta=1.0 - alpha, out=a_next)


def kf_rtrl_step(u: Tensor, a: Tensor, a_next: Tensor, scaled: Tensor, c1: Tensor, c2: Tensor, slope: Tensor, z: Tensor,
                 w_rec: Tensor, alpha: float, eps: float = 1e-7) -> Tensor:
    """One KF-RTRL update with signs ``c1, c2`` ``(batch,)``: returns the new ``u`` ``(batch, n + m + 1)`` and
    writes the new ``A`` into ``a_next``.

    ``a``, ``a_next``, ``scaled``: ``(batch, n, n)`` buffers (``A_{t-1}``, ``A_t``, and room for
    ``diag(alpha phi') W_rec``), reused from step to step: ``D_t A_{t-1}`` is one batched product
    into ``a_next`` (fresh 2 MB outputs at n = 128 cost more in page faults than their product's extra work).
    """
    da = kf_rtrl_product(a, a_next, scaled, slope, w_rec, alpha)
    p1 = torch.linalg.vector_norm(da.view(da.shape[0], -1), dim=1).add_(eps).div_(
        torch.linalg.vector_norm(u, dim=1).add_(eps)).sqrt_()
    p2 = torch.linalg.vector_norm(slope, dim=1).add_(eps).div_(torch.linalg.vector_norm(z, dim=1).add_(eps)).sqrt_()
    u_new = torch.addcmul((c1 * p1)[:, None] * u, (c2 * p2)[:, None], z)
    da.mul_((c1 / p1)[:, None, None])
    da.diagonal(dim1=1, dim2=2).add_((c2 / p2)[:, None] * slope)
    return u_new


class KFRTRL(OnlineRule):
    """Kronecker-factored RTRL: an unbiased, rank-structured influence estimate."""

    name = "kf_rtrl"
    title = "KF-RTRL"
    colour = "#9467bd"

    def __init__(self, eps: float = 1e-7, label: str | None = None, update_every: int | None = None):
        super().__init__(label, update_every)
        self.eps = eps

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        traj, c = sp.trajectory, sp.credit
        batch_size, steps, n = c.shape
        w_rec = model.w_rec.detach().contiguous()  # a view of W otherwise: every use would stride
        if carry and "u" in carry:
            u, (a, a_next, scaled) = carry["u"], carry["a"]
        else:
            u = c.new_zeros((batch_size, traj.z.shape[-1]))
            a, a_next, scaled = (c.new_zeros((batch_size, n, n)) for _ in range(3))
        grad = c.new_zeros((batch_size if per_sequence else 1, n, traj.z.shape[-1]))
        signs = self.signs((steps, 2, batch_size), c)  # c1, c2 per step: the same stream as two draws per step
        compiled = ckernels.library() is not None
        credit_a = c.new_empty((batch_size, n))
        for t in range(steps):
            c1, c2 = signs[t]
            slope_t, z_t = traj.slope[:, t], traj.z[:, t]
            # the batched product here (BLAS), the rest of the step in one compiled pass (bioplaus.rules.ckernels)
            if compiled:
                kf_rtrl_product(a, a_next, scaled, slope_t, w_rec, model.alpha)
                compiled = ckernels.kf_rtrl_finish(a_next, u, slope_t, z_t, c1, c2, c[:, t], self.eps, credit_a)
            if not compiled:  # no kernels, or tensors they cannot take: the step in PyTorch (from A_{t-1}, still in a)
                u = kf_rtrl_step(u, a, a_next, scaled, c1, c2, slope_t, z_t, w_rec, model.alpha, self.eps)
                credit_a = torch.bmm(c[:, t, None, :], a_next)[:, 0]  # c_t A_t, (batch, n)
            a, a_next = a_next, a
            if per_sequence:
                grad.baddbmm_(credit_a[:, :, None], u[:, None, :])
            else:  # sum over the batch of the outer products (c_t A_t) (x) u_t
                grad[0].addmm_(credit_a.t(), u)
        if carry is not None:
            carry.update(u=u, a=(a, a_next, scaled))
        return grad

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eps": self.eps}
