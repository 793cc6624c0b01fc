"""Spiking direct feedback alignment: the output error through a fixed random matrix, times the surrogate derivative, no eligibility traces.

After the event-driven random backpropagation of Neftci, Augustine, Paul & Detorakis 2017
(Front. Neurosci. 11:324): each spiking neuron ``j`` receives the read-out error through a fixed
random feedback matrix ``B`` (``n, n_out``), ``L_j^t = sum_k B_jk dE/dy_k^t``, gated by its own
surrogate derivative ``psi_j^t`` (:func:`bioplaus.snn.lif.surrogate_derivative`; eRBP used a
boxcar), and multiplied by the presynaptic activity that reached the membrane in the last step
alone::

    grad_ji = sum_t L_j^t psi_j^t c p_i^(t-1)      (p = [x; z], c: the current-to-membrane coupling)

so no trace of the membrane, the synaptic current, the adaptation or the read-out's leak is kept.
**With eligibility traces it is random e-prop** (:class:`bioplaus.rules.spiking_eprop.SpikingEProp`
with ``feedback = "random"``). It equals surrogate BPTT only for memoryless units (no leak carried
over, no synaptic current beyond one step, reset detached, instantaneous read-out) and no
recurrent weights, with ``B = W_out^T`` (``feedback = "symmetric"``, for that test); tests check
both that and that it differs with a leak. The read-out's gradient is exact.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rules.base import Rule
from bioplaus.snn.lif import readout_traces, surrogate_derivative

FEEDBACK = ("random", "symmetric")


class SpikingDFA(Rule):
    """Direct random feedback of the read-out error to spiking neurons, times the surrogate derivative, without eligibility traces."""

    name = "spiking_dfa"
    title = "DFA (spiking)"
    colour = "#1f77b4"
    requires = frozenset({"torch", "spiking:torch"})

    def __init__(self, feedback: str = "random", label: str | None = None):
        if feedback not in FEEDBACK:
            raise BioplausError(f"rule {self.name!r}: feedback is {feedback!r}; allowed values are {allowed(FEEDBACK)}.")
        super().__init__(label)
        self.feedback_kind = feedback
        self.b: Tensor | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        if self.feedback_kind == "random":
            n_out, n = model.readout.weight.shape
            b = torch.randn((n, n_out), generator=generator, dtype=torch.float64) / math.sqrt(n)
            self.b = b.to(dtype=model.readout.weight.dtype, device=model.readout.weight.device)

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        c, spec = model.constants, model.spec
        x = batch.x.to(model.w_in.dtype)
        with torch.no_grad():
            tr = model.trajectory(x)
        w_out, b_out = model.readout.weight, model.readout.bias
        traces = readout_traces(tr.z, w_out, b_out, c.kappa)
        g_w, g_b, err = torch.autograd.grad(batch.loss(model.output_of(traces)), [w_out, b_out, traces])
        with torch.no_grad():
            feedback = w_out.t() if self.b is None else self.b
            psi = surrogate_derivative(tr.distance, c.surrogate, c.surrogate_slope, c.surrogate_scale) * (1.0 - tr.refractory)
            post = (err @ feedback.t()) * psi  # L_j^t psi_j^t, (batch, T, n)
            pre = torch.cat([x, tr.z], 2) if spec.recurrent else x
            previous = torch.cat([torch.zeros_like(pre[:, :1]), pre[:, :-1]], 1)  # p^(t-1), (batch, T, P)
            grad = c.coupling * torch.einsum("btj,btp->jp", post, previous)
        out = {"input.weight": grad[:, : spec.n_in]}
        if spec.recurrent:
            out["recurrent.weight"] = grad[:, spec.n_in :] * model.no_self
        out.update({"readout.weight": g_w, "readout.bias": g_b})
        return out

    def feedback(self) -> dict[str, Tensor]:
        return {} if self.b is None else {"readout": self.b}

    def feedback_targets(self, model: nn.Module) -> dict[str, Tensor]:
        return {} if self.b is None else {"readout": model.readout.weight.detach().t()}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "feedback": self.feedback_kind}
