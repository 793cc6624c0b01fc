"""Real-time recurrent learning (Williams & Zipser 1989): the exact gradient, computed forwards.

The influence matrix ``M_t = dh_t/dW`` (``(n, n, n + m + 1)`` per sequence) is carried
forward by ``M_t = D_t M_{t-1} + Mbar_t`` and the gradient accumulates as ``sum_t c_t M_t``
(Marschall et al. 2020, eqs. 4-6), both in one batched matrix product per step
(:func:`bioplaus.rules.influence.influence_credit_step`).
It equals BPTT's gradient up to rounding; it costs ``O(n^4)`` per step and
``O(n^3)`` memory per sequence, so it is for small ``n``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from bioplaus.rules.influence import influence_buffers, influence_credit_step
from bioplaus.core import Batch
from bioplaus.rules.online import OnlineRule, SequencePass


class RTRL(OnlineRule):
    """Exact real-time recurrent learning."""

    name = "rtrl"
    title = "RTRL"
    colour = "#8c564b"

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        traj, c = sp.trajectory, sp.credit
        batch_size, steps, n = c.shape
        k = traj.z.shape[-1]
        w_rec = model.w_rec.detach().contiguous()  # a view of W otherwise: every use would stride
        m_prev, m_next, transition = carry["m"] if carry and "m" in carry else influence_buffers(batch_size, n, k, c)
        grad = c.new_zeros((batch_size, n, k))
        for t in range(steps):
            influence_credit_step(m_prev, m_next, transition, traj.slope[:, t], traj.z[:, t], c[:, t], w_rec, model.alpha, grad)
            m_prev, m_next = m_next, m_prev
        if carry is not None:
            carry["m"] = (m_prev, m_next, transition)
        return grad
