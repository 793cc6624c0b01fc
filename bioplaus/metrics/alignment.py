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

from bioplaus.metrics.angles import angle_deg, angle_from_norms, flat64


class _LayerPair:
    """Squared norms of combinations ``c1 G1 + c2 G2`` of two gradients of one layer."""

    def __init__(self, x: Tensor, bias: bool, d1: Tensor, d2: Tensor, g1: list[Tensor] | None):
        batch, n_in = x.shape
        n_out = d1.shape[1]
        # Gram route costs ~batch^2 (n_in + 2 n_out) float64 MACs; the dense route forms
        # the second gradient, batch n_in n_out float32 MACs. float64 runs at ~half speed.
        self.gram = 2 * batch * (n_in + 2 * n_out) < n_in * n_out or g1 is None
        if self.gram:
            x64 = x.detach().to(torch.float64)
            k = x64.mm(x64.t())
            if bias:
                k += 1.0
            self.d1, self.d2 = d1.to(torch.float64), d2.to(torch.float64)
            self.m1, self.m2 = k.mm(self.d1), k.mm(self.d2)
            self.sq1 = float((self.d1 * self.m1).sum())
            self.sq2 = float((self.d2 * self.m2).sum())
        else:
            xd = x.detach()
            g2 = [d2.t().mm(xd)] + ([d2.sum(0)] if bias else [])
            self.v1, self.v2 = flat64(g1), flat64(g2)
            self.sq1 = float(self.v1.square().sum())
            self.sq2 = float(self.v2.square().sum())

    def combo_sq(self, c1: float, c2: float) -> float:
        """``|c1 G1 + c2 G2|^2``."""
        if self.gram:
            return float(((c1 * self.d1 + c2 * self.d2) * (c1 * self.m1 + c2 * self.m2)).sum())
        return float((c1 * self.v1 + c2 * self.v2).square().sum())


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
    sq_ref_only: float = 0.0
    for name, x, d, dref in zip(layer_names, inputs, deltas, reference_deltas):
        if d is None:
            pairs_ref = _LayerPair(x, bias, dref, dref, None)
            sq_ref_only += pairs_ref.sq1
            continue
        g1 = [estimate[f"layers.{name}.weight"]] + ([estimate[f"layers.{name}.bias"]] if bias else [])
        pair = _LayerPair(x, bias, d, dref, g1)
        pairs[name] = pair
        if pair.sq1 > 0 and pair.sq2 > 0:
            n1, n2 = math.sqrt(pair.sq1), math.sqrt(pair.sq2)
            out[name] = angle_from_norms(pair.combo_sq(1 / n1, -1 / n2), pair.combo_sq(1 / n1, 1 / n2))
    total1 = sum(p.sq1 for p in pairs.values())
    total2 = sum(p.sq2 for p in pairs.values()) + sq_ref_only
    if total1 > 0 and total2 > 0:
        n1, n2 = math.sqrt(total1), math.sqrt(total2)
        # Layers without credit contribute |0 -+ G_ref/n2|^2 = sq_ref/n2^2 to both sums.
        rest = sq_ref_only / total2
        diff = sum(p.combo_sq(1 / n1, -1 / n2) for p in pairs.values()) + rest
        summ = sum(p.combo_sq(1 / n1, 1 / n2) for p in pairs.values()) + rest
        out["all"] = angle_from_norms(diff, summ)
    return out


def update_angles(estimate: dict[str, Tensor], reference: dict[str, Tensor], groups: dict[str, list[str]]) -> dict[str, float]:
    """Angles between two parameter dicts, per layer (``groups``: layer -> parameter names) and ``all``."""
    from bioplaus.metrics.angles import grouped_angles

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
