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

from bioplaus.rate.recurrent import jacobian_product
from bioplaus.rules.base import Batch
from bioplaus.rules.online import OnlineRule, SequencePass


def kf_rtrl_step(u: Tensor, a: Tensor, c1: Tensor, c2: Tensor, slope: Tensor, z: Tensor, w_rec: Tensor,
                 alpha: float, eps: float = 1e-7) -> tuple[Tensor, Tensor]:
    """One KF-RTRL update of ``u`` ``(batch, n + m + 1)`` and ``A`` ``(batch, n, n)`` with signs ``c1, c2`` ``(batch,)``."""
    da = jacobian_product(a, slope, w_rec, alpha)
    p1 = torch.sqrt((da.flatten(1).norm(dim=1) + eps) / (u.norm(dim=1) + eps))
    p2 = torch.sqrt((slope.norm(dim=1) + eps) / (z.norm(dim=1) + eps))
    u_new = (c1 * p1)[:, None] * u + (c2 * p2)[:, None] * z
    a_new = da.mul_((c1 / p1)[:, None, None])
    a_new.diagonal(dim1=1, dim2=2).add_((c2 / p2)[:, None] * slope)
    return u_new, a_new


class KFRTRL(OnlineRule):
    """Kronecker-factored RTRL: an unbiased, rank-structured influence estimate."""

    name = "kf_rtrl"

    def __init__(self, eps: float = 1e-7, label: str | None = None, n_hidden: int | None = None,
                 model: dict[str, Any] | None = None, task: dict[str, Any] | None = None, update_every: int | None = None):
        super().__init__(label, n_hidden, model, task, update_every)
        self.eps = eps

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        traj, c = sp.trajectory, sp.credit
        batch_size, steps, n = c.shape
        w_rec = model.w_rec.detach().contiguous()  # a view of W otherwise: every use would stride
        if carry and "u" in carry:
            u, a = carry["u"], carry["a"]
        else:
            u, a = c.new_zeros((batch_size, traj.z.shape[-1])), c.new_zeros((batch_size, n, n))
        grad = c.new_zeros((batch_size if per_sequence else 1, n, traj.z.shape[-1]))
        for t in range(steps):
            c1, c2 = self.signs((batch_size,), c), self.signs((batch_size,), c)
            u, a = kf_rtrl_step(u, a, c1, c2, traj.slope[:, t], traj.z[:, t], w_rec, model.alpha, self.eps)
            credit_a = torch.bmm(c[:, t, None, :], a)[:, 0]  # c_t A_t, (batch, n)
            if per_sequence:
                grad.baddbmm_(credit_a[:, :, None], u[:, None, :])
            else:  # sum over the batch of the outer products (c_t A_t) (x) u_t
                grad[0].addmm_(credit_a.t(), u)
        if carry is not None:
            carry.update(u=u, a=a)
        return grad

    def config(self) -> dict[str, Any]:
        return {**super().config(), "eps": self.eps}
