"""The influence matrix of a leaky vanilla RNN (Williams & Zipser 1989) and its products.

For the network of :mod:`bioplaus.rate.recurrent` (``h_t = (1 - alpha) h_{t-1} + alpha phi(W z_t)``,
``z_t = [h_{t-1}; x_t; 1]``) the influence ``M_t = dh_t/dW`` obeys ``M_t = D_t M_{t-1} + Mbar_t`` with
the Jacobian ``D_t = dh_t/dh_{t-1} = (1 - alpha) I + alpha diag(phi'(a_t)) W_rec`` and the immediate
influence ``Mbar_t[k, i, j] = delta_ki alpha phi'(a_t,i) z_t,j``. The temporal credit-assignment rules
(RTRL exactly; UORO, KF-RTRL, e-prop and RFLO approximately) are built on these:

- :func:`jacobian_product`: ``D_t V`` (the plain formula);
- :func:`influence_step`: the exact RTRL update (the plain formula, ``O(batch n^4)``);
- :func:`influence_credit_step`: the same update fused with the accumulation of ``c_t M_t``,
  one batched matrix product per step into preallocated buffers (what RTRL runs).
"""

from __future__ import annotations

import torch
from torch import Tensor


def jacobian_product(v: Tensor, slope: Tensor, w_rec: Tensor, alpha: float) -> Tensor:
    """``D_t v`` for ``v`` of shape ``(batch, n, ...)``: ``(1 - alpha) v + alpha phi'(a_t) * (W_rec v)``.

    ``slope`` is ``alpha phi'(a_t)``, ``(batch, n)``; ``w_rec`` is ``(n, n)``. One batched matrix
    product ``(slope * W_rec) @ v`` over the trailing dimensions, with the leak added by the same
    BLAS call (``baddbmm``), so the large ``v`` of RTRL is read once and written once; for a
    ``v`` with fewer trailing columns than ``n`` the product is scaled instead.
    """
    flat = v.reshape(v.shape[0], v.shape[1], -1)
    if flat.shape[2] < v.shape[1]:  # a few columns (UORO's h~): scaling the product is cheaper than scaling W
        out = torch.matmul(w_rec, flat).mul_(slope[:, :, None])
        if alpha != 1.0:
            out.add_(flat, alpha=1.0 - alpha)
        return out.reshape(v.shape)
    scaled = slope[:, :, None] * w_rec
    if alpha == 1.0:
        out = torch.bmm(scaled, flat)
    else:
        out = torch.baddbmm(flat, scaled, flat, beta=1.0 - alpha)
    return out.reshape(v.shape)


def influence_step(m: Tensor, slope: Tensor, z: Tensor, w_rec: Tensor, alpha: float) -> Tensor:
    """Exact RTRL (Williams & Zipser 1989): ``M_t = D_t M_{t-1} + Mbar_t``.

    ``m``: the influence ``dh_{t-1}/dW``, ``(batch, n, n, n + m + 1)`` indexed ``[b, k, i, j]``;
    ``Mbar_t[b, k, i, j] = delta_ki slope[b, i] z[b, j]``. Cost ``O(batch n^4)``.
    """
    out = jacobian_product(m, slope, w_rec, alpha)
    idx = torch.arange(m.shape[1], device=m.device)
    out[:, idx, idx, :] += slope[:, :, None] * z[:, None, :]
    return out


def influence_buffers(batch: int, n: int, k: int, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Zeroed buffers for :func:`influence_credit_step`: two ``(batch, n + 1, n k)`` influence buffers
    (used in turn: one holds ``M_{t-1}``, the next step writes ``M_t`` into the other) and the
    ``(batch, n + 1, n)`` transition buffer."""
    buffers = tuple(like.new_zeros((batch, n + 1, n * k)) for _ in range(2))
    return buffers[0], buffers[1], like.new_zeros((batch, n + 1, n))


def influence_credit_step(m_prev: Tensor, m_next: Tensor, transition: Tensor, slope: Tensor, z: Tensor, credit: Tensor,
                          w_rec: Tensor, alpha: float, grad: Tensor) -> None:
    """Exact RTRL step fused with the gradient: ``M_t = A_t M_{t-1} + Mbar_t`` and ``grad += c_t M_t``.

    Buffers from :func:`influence_buffers`; rows ``:n`` of ``m_prev`` hold ``M_{t-1}`` (``(batch, n, n k)``,
    row ``k`` the flattened ``dh_{t-1,k}/dW``), rows ``:n`` of ``m_next`` receive ``M_t``. Per sequence,
    ``A_t = diag(slope) W_rec + (1 - alpha) I = D_t`` (``(n, n)``), so ``D_t M_{t-1}`` is one batched
    matrix product that reads ``M_{t-1}`` once and writes ``M_t`` once. The transition buffer carries an
    extra row ``c_t A_t`` (``c_t``: ``credit``, ``(batch, n)``), so the same product also yields
    ``c_t D_t M_{t-1}`` in row ``n`` of ``m_next``, and ``c_t M_t = c_t D_t M_{t-1} + (c_t * slope) z_t^T``
    needs no second pass over ``M_t``. The immediate term ``Mbar_t`` (non-zero only on the blocks
    ``k = i``) is added in place through a strided view of the diagonal blocks.
    ``grad``: ``(batch, n, n + m + 1)``, updated in place.
    """
    batch, n = slope.shape
    k = z.shape[1]
    a = transition[:, :n]
    torch.mul(slope[:, :, None], w_rec, out=a)
    if alpha != 1.0:
        a.diagonal(dim1=1, dim2=2).add_(1.0 - alpha)
    torch.bmm(credit[:, None, :], a, out=transition[:, n:])
    torch.bmm(transition, m_prev[:, :n], out=m_next)
    m_next[:, :n].view(batch, n, n, k).diagonal(dim1=1, dim2=2).add_(slope[:, None, :] * z[:, :, None])
    grad.view(batch, n * k).add_(m_next[:, n])
    grad.addcmul_((credit * slope)[:, :, None], z[:, None, :])
