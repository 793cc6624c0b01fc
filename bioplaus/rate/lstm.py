"""LSTM cells with a sparse attentive memory of past states (Ke et al., NeurIPS 2018, Sec. 3-4).

The LSTM (Hochreiter & Schmidhuber 1997, with a forget gate)::

    [i; f; g; o] = W [h_{t-1}; x_t; 1]              W: (4n, n + m + 1)
    c_t = sigma(f) c_{t-1} + sigma(i) tanh(g),   h~_t = sigma(o) tanh(c_t)

Sparse attentive memory: every ``k_att`` steps the state is written to a memory
``m_1, m_2, ...``; at every step the LSTM output attends to the memories with scores
``s_j = <h~_t, m_j> / sqrt(n)``, keeps the ``k_top`` largest and normalises them with a
softmax (zero weight elsewhere), and adds the summary: ``h_t = h~_t + sum_j a_j m_j``.
Ke et al. score with a small MLP and sparsify by subtracting the ``(k_top + 1)``-th score;
the dot-product score and top-k softmax here are our simplification. Memories keep their
autograd graph, so a backward pass truncated to ``k_trunc`` local steps still reaches the
attended past through them: sparse attentive backtracking.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor



def lstm_step(h: Tensor, c: Tensor, x: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step: ``(h~_t, c_t)``, each ``(batch, n)``, from ``h_{t-1}``, ``c_{t-1}``, ``x_t`` ``(batch, m)``."""
    gates = torch.cat([h, x, torch.ones_like(h[:, :1])], dim=1) @ w.t()  # z = [h; x; 1], as in the vanilla cell
    i, f, g, o = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def sparse_attention(h: Tensor, memories: Tensor, k_top: int) -> Tensor:
    """``sum_j a_j m_j`` ``(batch, n)``: softmax over the ``k_top`` largest ``<h, m_j> / sqrt(n)`` of ``memories`` ``(batch, M, n)``."""
    scores = torch.einsum("bn,bjn->bj", h, memories) / math.sqrt(h.shape[1])
    k = min(k_top, memories.shape[1])
    top, idx = scores.topk(k, dim=1)
    weights = torch.zeros_like(scores).scatter(1, idx, torch.softmax(top, dim=1))
    return torch.einsum("bj,bjn->bn", weights, memories)


def lstm_states(w: Tensor, x: Tensor, k_att: int = 0, k_top: int = 0, detach_every: int | None = None) -> Tensor:
    """States ``h_1..h_T`` ``(batch, T, n)`` of an LSTM with sparse attentive memory, with autograd.

    ``detach_every = k_trunc`` cuts the local chain at ``h_0, h_k, ...`` but not the memories.
    """
    n = w.shape[0] // 4
    h = x.new_zeros((x.shape[0], n))
    c = torch.zeros_like(h)
    memories: list[Tensor] = []
    out = []
    for t in range(x.shape[1]):
        if detach_every is not None and t % detach_every == 0:
            h, c = h.detach(), c.detach()
        h, c = lstm_step(h, c, x[:, t], w)
        if memories and k_top > 0:
            h = h + sparse_attention(h, torch.stack(memories, 1), k_top)
        if k_att > 0 and (t + 1) % k_att == 0:
            memories.append(h)
        out.append(h)
    return torch.stack(out, 1)
