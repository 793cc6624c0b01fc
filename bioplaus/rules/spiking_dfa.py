"""Spiking direct feedback alignment: the output error through a fixed random matrix, times the surrogate derivative, no eligibility traces.

After the event-driven random backpropagation of Neftci, Augustine, Paul & Detorakis 2017
(Front. Neurosci. 11:324): each spiking neuron ``j`` receives the read-out error through a fixed
random feedback matrix ``B`` (``n, n_out``), ``L_j^t = sum_k B_jk dE/dy_k^t``, gated by its own
surrogate derivative ``psi_j^t`` (:func:`bioplaus.snn.lif.surrogate_derivative`; eRBP used a
boxcar), and multiplied by the presynaptic activity that reached the membrane in the last step
alone::

    grad_ji = sum_t L_j^t psi_j^t c p_i^(t-1)      (p = [x; z], c: the current-to-membrane coupling, alpha with delta synapses)

so no trace of the membrane, the synaptic current, the adaptation or the read-out's leak is kept.
**With eligibility traces it is random e-prop** (:class:`bioplaus.rules.spiking_eprop.SpikingEProp`
with ``feedback = "random"``). It equals surrogate BPTT only for memoryless units (no leak carried
over, no synaptic current beyond one step, reset detached, instantaneous read-out) and no
recurrent weights, with ``B = W_out^T`` (``feedback = "symmetric"``, for that test); tests check
both that and that it differs with a leak. The read-out's gradient is exact.
"""

from __future__ import annotations


import torch
from torch import Tensor

from bioplaus.rules.spiking_eprop import SpikingEProp


class SpikingDFA(SpikingEProp):
    """Direct random feedback of the read-out error to spiking neurons, times the surrogate derivative, without eligibility traces."""

    name = "spiking_dfa"
    title = "DFA (spiking)"
    colour = "#1f77b4"

    def __init__(self, feedback: str = "random", label: str | None = None):
        super().__init__(feedback, label)

    def credit(self, signal: Tensor, psi: Tensor, pre: Tensor, tr, c) -> Tensor:
        """``dW_ji = coupling sum_t L_j^t psi_j^t p_i^(t-1)``: the presynaptic activity of the step before, no trace."""
        post = signal * psi  # L_j^t psi_j^t, (batch, T, n)
        previous = torch.cat([torch.zeros_like(pre[:, :1]), pre[:, :-1]], 1)  # p^(t-1), (batch, T, P)
        coupling = c.alpha_mem if c.synapse == "delta" else c.coupling  # d v^_t / d p^(t-1): through the membrane's leak alone
        return coupling * torch.einsum("btj,btp->jp", post, previous)
