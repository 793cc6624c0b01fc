"""e-prop (Bellec et al. 2020, Nat. Commun. 11:3625, eqs. 1-3) for the leaky rate RNN.

The influence matrix is restricted to each neuron's own state: only the diagonal of
``D_t``, ``d_t,i = (1 - alpha) + alpha phi'(a_t,i) W_rec,ii``, is kept, so the
eligibility trace ``E_t[i, j] = d_t,i E_{t-1}[i, j] + alpha phi'(a_t,i) z_t,j`` costs
``O(n^2)`` per step. It is multiplied by an online learning signal ``L_t = e_t B``:
``B = W_out`` (symmetric e-prop) or a fixed random matrix (random e-prop). The estimate
is ``sum_t L_t,i E_t[i, j]``. What is dropped is every path through *other* neurons'
recurrent weights, so on a network without recurrent weights it is the exact gradient.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rules import ckernels
from bioplaus.core import Batch
from bioplaus.rules.online import OnlineRule, SequencePass, accumulate, estimate_buffer

FEEDBACK = ("symmetric", "random")


def eligibility_step(trace: Tensor, decay: Tensor | float, slope: Tensor, z: Tensor) -> Tensor:
    """``E_t = decay (*) E_{t-1} + slope (x) z``: ``trace`` ``(batch, n, n + m + 1)``, ``slope`` ``(batch, n)``,
    ``decay`` ``(batch, n)`` (e-prop) or one number (RFLO's leak ``1 - alpha``).

    Updates ``trace`` in place and returns it: for a number, one rank-one batched product with
    ``beta = decay`` (one pass over the per-sequence state); per row, a scaling and the rank-one term
    (two passes: folding the decay into a per-row scale of the stored trace saves one but measured
    slower, its extra small operations costing more than the pass at n = 128).
    """
    if isinstance(decay, float):
        return trace.baddbmm_(slope[:, :, None], z[:, None, :], beta=decay)
    return trace.mul_(decay[:, :, None]).addcmul_(slope[:, :, None], z[:, None, :])


class EProp(OnlineRule):
    """Eligibility traces of each neuron's own state times a symmetric or random learning signal."""

    name = "eprop"
    title = "e-prop"
    colour = "#17becf"
    default_feedback = "symmetric"
    own_recurrence = True  # e-prop keeps W_rec,ii in the trace; RFLO keeps only the leak

    def __init__(self, feedback: str | None = None, label: str | None = None, update_every: int | None = None):
        feedback = feedback or self.default_feedback
        if feedback not in FEEDBACK:
            raise BioplausError(f"rule {self.name!r}: feedback is {feedback!r}; allowed values are 'symmetric' or 'random'.")
        super().__init__(label, update_every)
        self.feedback_kind = feedback
        self.b: Tensor | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        super().setup(model, generator)
        if self.feedback_kind == "random":
            n_out, n = model.readout.weight.shape
            self.b = self.gaussian((n, n_out), model.w) / math.sqrt(n)

    def learning_signal(self, model: nn.Module, sp: SequencePass) -> Tensor:
        """``L_t``, ``(batch, T, n)``: ``e_t W_out`` or ``e_t B^T`` with the fixed random ``B``."""
        return sp.credit if self.b is None else sp.error @ self.b.t()

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        traj = sp.trajectory
        signal = self.learning_signal(model, sp)
        batch_size, steps, n = signal.shape
        leak = 1.0 - model.alpha
        self_weight = model.w_rec.detach().diagonal().contiguous() if self.own_recurrence else None
        trace = carry["trace"] if carry and "trace" in carry else signal.new_zeros((batch_size, n, traj.z.shape[-1]))
        decay = traj.slope * self_weight + leak if self_weight is not None else None  # (batch, T, n), all steps at once
        # the whole sequence in one compiled loop when possible (bioplaus.rules.ckernels: it can sum the
        # row-weighted estimate over the batch as it goes) ...
        grad = estimate_buffer(trace, per_sequence)
        if not ckernels.trace_sequence(trace, decay, leak, traj.slope.contiguous(), traj.z.contiguous(), signal.contiguous(), grad):
            # ... else step by step, row-weighted per sequence (see accumulate), summed by the caller
            grad = estimate_buffer(trace, True)
            for t in range(steps):
                trace = eligibility_step(trace, leak if decay is None else decay[:, t], traj.slope[:, t], traj.z[:, t])
                accumulate(grad, signal[:, t], trace)
        if carry is not None:
            carry["trace"] = trace
        return grad

    def feedback(self) -> dict[str, Tensor]:
        return {} if self.b is None else {"readout": self.b}

    def feedback_targets(self, model: nn.Module) -> dict[str, Tensor]:
        return {} if self.b is None else {"readout": model.readout.weight.detach().t()}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "feedback": self.feedback_kind}
