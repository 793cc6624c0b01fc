"""Alignment metrics: how close a rule's update and feedback weights come to backprop's.

- :func:`update_angles`: angle between the rule's estimate and the exact gradient on
  the same batch, per layer and for all parameters (``all``).
- :func:`feedback_alignment_metrics`: ``weight_angle`` between each feedback matrix B
  and what it stands in for (``W^T``), ``norm_ratio`` ``|B|/|W|`` and
  ``sign_concordance`` (fraction of entries with ``sign(B) = sign(W^T)``).

For layered networks :func:`update_angles_from_deltas` never forms the reference
gradient: for a layer with input X ``(batch, n_in)`` and deltas D ``(batch, n_out)``
the gradient is ``G = D^T X`` and ``<G1, G2> = sum[(D1 D2^T) * (X X^T)]``
(``X X^T + 1`` with a bias). With ``K = X X^T (+1)`` every squared norm needed,
``|G|^2`` and ``|G1/n1 -+ G2/n2|^2``, is ``sum(D * (K D))``: ``O(batch^2 (n_in + n_out))``
instead of ``O(batch n_in n_out)``. Each layer takes the cheaper route.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from bioplaus.metrics.angles import angle_deg, angle_from_combination, flat64, grouped_angles


class _LayerPair:
    """Squared norms of combinations ``c1 G1 + c2 G2`` of two gradients of one layer."""

    def __init__(self, x: Tensor, bias: bool, d1: Tensor, d2: Tensor, g1: list[Tensor] | None):
        batch, n_in = x.shape
        n_out = d1.shape[1]
        # Gram route: ~batch^2 n_in float32 MACs for K and 2 batch^2 n_out float64 MACs
        # for K D; dense route: forms the second gradient, batch n_in n_out float32 MACs.
        self.gram = g1 is None or batch * (n_in + 4 * n_out) < n_in * n_out
        if self.gram:
            xd = x.detach()
            # K in float32 is a fixed metric: its rounding cannot cancel; K D must be float64,
            # since c1 K D1 + c2 K D2 cancels when the two updates nearly agree.
            k = xd.mm(xd.t()).to(torch.float64)
            if bias:
                k += 1.0
            d = torch.cat([d1, d2], 1).to(torch.float64)
            m = k.mm(d)
            self.d1, self.d2 = d[:, :n_out], d[:, n_out:]
            self.m1, self.m2 = m[:, :n_out], m[:, n_out:]
            self.sq1 = float(torch.dot(self.d1.reshape(-1), self.m1.reshape(-1)))
            self.sq2 = float(torch.dot(self.d2.reshape(-1), self.m2.reshape(-1)))
        else:
            g2 = [d2.t().mm(x.detach())] + ([d2.sum(0)] if bias else [])
            self.v1, self.v2 = flat64(g1), flat64(g2)
            self.sq1 = float(torch.dot(self.v1, self.v1))
            self.sq2 = float(torch.dot(self.v2, self.v2))

    def combo_sq(self, c1: float, c2: float) -> float:
        """``|c1 G1 + c2 G2|^2``."""
        r = c2 / c1
        if self.gram:
            u = torch.add(self.d1, self.d2, alpha=r).reshape(-1)
            v = torch.add(self.m1, self.m2, alpha=r).reshape(-1)
            return c1 * c1 * float(torch.dot(u, v))
        u = torch.add(self.v1, self.v2, alpha=r)
        return c1 * c1 * float(torch.dot(u, u))


def update_angles_from_deltas(
    layer_names: list[str],
    inputs: list[Tensor],
    deltas: list[Tensor | None],
    reference_deltas: list[Tensor],
    estimate: dict[str, Tensor],
    bias: bool,
) -> dict[str, float]:
    """Angles between a layered rule's estimate and backprop, per layer and ``all``.

    ``deltas[l]`` and ``reference_deltas[l]`` are ``(batch, n_l)``; ``inputs[l]`` is
    ``(batch, n_{l-1})``, shared by both since rules do not change the forward pass.
    A layer with a ``None`` (zero) delta has no angle but counts in ``all``.
    """
    out: dict[str, float] = {}
    pairs: dict[str, _LayerPair] = {}
    sq_ref_only = 0.0
    for name, x, d, dref in zip(layer_names, inputs, deltas, reference_deltas):
        if d is None:
            sq_ref_only += _LayerPair(x, bias, dref, dref, None).sq1
            continue
        g1 = [estimate[f"layers.{name}.weight"]] + ([estimate[f"layers.{name}.bias"]] if bias else [])
        pair = _LayerPair(x, bias, d, dref, g1)
        pairs[name] = pair
        if pair.sq1 > 0 and pair.sq2 > 0:
            n1, n2 = math.sqrt(pair.sq1), math.sqrt(pair.sq2)
            out[name] = angle_from_combination(lambda s, p=pair, n1=n1, n2=n2: p.combo_sq(1 / n1, s / n2))
    total1 = sum(p.sq1 for p in pairs.values())
    total2 = sum(p.sq2 for p in pairs.values()) + sq_ref_only
    if total1 > 0 and total2 > 0:
        n1, n2 = math.sqrt(total1), math.sqrt(total2)
        # Layers without credit contribute |0 + s G_ref/n2|^2 = sq_ref/n2^2 to either combination.
        rest = sq_ref_only / total2
        out["all"] = angle_from_combination(lambda s: sum(p.combo_sq(1 / n1, s / n2) for p in pairs.values()) + rest)
    return out


def update_angles(estimate: dict[str, Tensor], reference: dict[str, Tensor], groups: dict[str, list[str]]) -> dict[str, float]:
    """Angles between two parameter dicts, per layer (``groups``: layer -> parameter names) and ``all``."""
    return grouped_angles(estimate, reference, groups)


def feedback_alignment_metrics(feedback: dict[str, Tensor], targets: dict[str, Tensor]) -> list[tuple[str, str, float]]:
    """``(metric, layer, value)`` rows of ``weight_angle``, ``norm_ratio`` and ``sign_concordance``."""
    rows: list[tuple[str, str, float]] = []
    if not feedback:
        return rows
    layers = list(feedback)
    for name in layers + ["all"]:
        keys = layers if name == "all" else [name]
        b = flat64(feedback[k] for k in keys)
        w = flat64(targets[k] for k in keys)
        theta = angle_deg(b, w)
        if theta is not None:
            rows.append(("weight_angle", name, theta))
        nw = float(torch.linalg.vector_norm(w))
        if nw > 0:
            rows.append(("norm_ratio", name, float(torch.linalg.vector_norm(b)) / nw))
        rows.append(("sign_concordance", name, float((torch.sign(b) == torch.sign(w)).to(torch.float64).mean())))
    return rows
