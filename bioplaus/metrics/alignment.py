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

Angles between 20 and 160 degrees (where FA-like rules spend most of their time) come
from the cosine ``<G1, G2> / (|G1| |G2|)``, whose rounding error ``eps`` moves the
angle by only ``eps / sin(theta)``; closer to 0 or 180 degrees the cosine loses half
the digits, and the angle comes from the combination ``|G1/n1 -+ G2/n2|`` instead
(:func:`bioplaus.metrics.angles.angle_from_combination`), which costs one more product
with ``K`` per layer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from bioplaus.metrics.angles import angle_from_cosine_or_combination, grouped_angles


class _LayerPair:
    """One layer's rule estimate G1 and exact gradient G2, for angle computations.

    ``combo(s)`` returns ``q = |G1/n1 + s G2/n2|^2`` and ``r = <G1/n1 + s G2/n2, G2/n2>``
    (``n = |G|``) for ``s = -1`` (acute angles) or ``+1`` (obtuse ones). The
    combination of the two updates is formed *before* any product with the inputs, so
    two nearly equal updates cancel there, elementwise; everything runs in the data's
    own precision (float32 deltas: angles resolved down to ~1e-7 rad, the precision of
    the deltas themselves) and no large temporaries. ``|G1|`` comes from the
    estimate the rule already formed; identical updates are recognised and give
    exactly 0.
    """

    def __init__(self, x: Tensor, bias: bool, d1: Tensor | None, d2: Tensor, g1: list[Tensor] | None):
        batch, n_in = x.shape
        n_out = d2.shape[1]
        # Gram route: ~batch^2 (n_in + 2 n_out) MACs (K, K D2, K combination); the dense
        # route forms the reference gradient: batch n_in n_out MACs.
        self.gram = batch * (n_in + 2 * n_out) < n_in * n_out
        # (the first row decides cheaply for rules whose deltas differ from backprop's)
        self.same = d1 is not None and (d1 is d2 or (d1.shape == d2.shape and torch.equal(d1[:1], d2[:1]) and torch.equal(d1, d2)))
        self.d1, self.d2 = d1, d2
        self.v1 = None if g1 is None else [t.detach().reshape(-1) for t in g1]
        xd = x.detach()
        if self.gram and not self.same and d1 is not None:
            # addmm folds the bias's +1 into the product (a contiguous copy of X^T, faster
            # for a cache-hot X, measured slower with the cache state of a training step);
            # |G1|^2 = <D1, K D1> from the same product as K D2, instead of a pass over G1
            self.k = torch.addmm(xd.new_ones(()), xd, xd.t()) if bias else xd.mm(xd.t())
            self.k_d2 = self.k.mm(d2)
            self.sq1, self.sq2 = _dot(d1, self.k.mm(d1)), _dot(d2, self.k_d2)
            return
        self.sq1 = 0.0 if self.v1 is None else sum(_dot(t, t) for t in self.v1)
        if self.same and self.v1 is not None:  # the update is the gradient: nothing to form twice
            self.sq2 = self.sq1
        elif self.gram:
            self.k = torch.addmm(xd.new_ones(()), xd, xd.t()) if bias else xd.mm(xd.t())
            self.k_d2 = self.k.mm(d2)
            self.sq2 = _dot(d2, self.k_d2)
        else:
            self.v2 = [t.reshape(-1) for t in [d2.t().mm(xd)] + ([d2.sum(0)] if bias else [])]
            self.sq2 = sum(_dot(t, t) for t in self.v2)

    def inner(self) -> float:
        """``<G1, G2>``, the unnormalised overlap of the two updates."""
        if self.same:
            return self.sq2
        if self.gram:
            return _dot(self.d1, self.k_d2)
        return sum(_dot(t1, t2) for t1, t2 in zip(self.v1, self.v2))

    def combo(self, s: float) -> tuple[float, float]:
        n1, n2 = math.sqrt(self.sq1), math.sqrt(self.sq2)
        if self.same:  # the rule's update is the gradient (backprop itself): exactly 0 or 180 degrees apart
            return (0.0, 0.0) if s < 0 else (4.0, 2.0)
        if self.gram:
            delta = self.d1 / n1 + s * (self.d2 / n2)  # same rounding on both sides: equal updates cancel exactly
            k_delta = self.k.mm(delta)
            return _dot(delta, k_delta), _dot(k_delta, self.d2) / n2
        q = r = 0.0
        for t1, t2 in zip(self.v1, self.v2):
            delta = t1 / n1 + s * (t2 / n2)
            q, r = q + _dot(delta, delta), r + _dot(delta, t2) / n2
        return q, r


def _dot(a: Tensor, b: Tensor) -> float:
    """``<a, b>`` of two same-shaped tensors, without temporaries."""
    return float(torch.dot(a.reshape(-1), b.reshape(-1)))


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

    For ``all``, with ``N = |G|`` over all layers, ``alpha = n1/N1`` and
    ``c = s (n2/N2 - alpha)`` per layer, ``G1/N1 + s G2/N2 = alpha u + c v`` with
    ``u = G1/n1 + s G2/n2`` and ``v = G2/n2``, so
    ``|.|^2 = sum_l alpha^2 q + 2 alpha c r + c^2`` reuses each layer's ``combo``.
    """
    out: dict[str, float] = {}
    pairs: dict[str, _LayerPair] = {}
    for name, x, d, dref in zip(layer_names, inputs, deltas, reference_deltas):
        g1 = None if d is None else [estimate[f"layers.{name}.weight"]] + ([estimate[f"layers.{name}.bias"]] if bias else [])
        pairs[name] = _LayerPair(x, bias, d, dref, g1)
    combos: dict[tuple[str, float], tuple[float, float]] = {}

    def combo(name: str, s: float) -> tuple[float, float]:
        if (name, s) not in combos:
            combos[(name, s)] = pairs[name].combo(s)
        return combos[(name, s)]

    inner = {name: p.inner() for name, p in pairs.items() if p.sq1 > 0 and p.sq2 > 0}
    for name, overlap in inner.items():
        p = pairs[name]
        cos = overlap / math.sqrt(p.sq1 * p.sq2)
        out[name] = angle_from_cosine_or_combination(cos, lambda s, name=name: combo(name, s)[0])
    total1 = sum(p.sq1 for p in pairs.values())
    total2 = sum(p.sq2 for p in pairs.values())
    if total1 > 0 and total2 > 0:
        big1, big2 = math.sqrt(total1), math.sqrt(total2)
        cos_all = sum(inner.values()) / (big1 * big2)

        def combo_all(s: float) -> float:
            acc = 0.0
            for name, p in pairs.items():
                alpha, beta = math.sqrt(p.sq1) / big1, math.sqrt(p.sq2) / big2
                if alpha == 0 or beta == 0:  # a layer without credit, or without gradient
                    acc += alpha * alpha + beta * beta
                    continue
                q, r = combo(name, s)
                c = s * (beta - alpha)
                acc += alpha * alpha * q + 2 * alpha * c * r + c * c
            return acc

        out["all"] = angle_from_cosine_or_combination(cos_all, combo_all)
    return out


def update_angles(estimate: dict[str, Tensor], reference: dict[str, Tensor], groups: dict[str, list[str]]) -> dict[str, float]:
    """Angles between two parameter dicts, per layer (``groups``: layer -> parameter names) and ``all``."""
    return grouped_angles(estimate, reference, groups)


def feedback_alignment_metrics(feedback: dict[str, Tensor], targets: dict[str, Tensor]) -> list[tuple[str, str, float]]:
    """``(metric, layer, value)`` rows of ``weight_angle``, ``norm_ratio`` and ``sign_concordance``, per layer and ``all``.

    Each pair (B, W^T) is copied once to float64 in NumPy (feedback matrices are small:
    a dozen torch operations on them cost more in dispatch than in arithmetic); the
    angles come from the cosine or, near 0 and 180 degrees, from the combination
    (:func:`angle_from_cosine_or_combination`; ``all`` combines the layers'
    unit-normalised parts).
    """
    if not feedback:
        return []
    layers = list(feedback)
    b, w = {}, {}
    sq_b, sq_w, dot, same, size = {}, {}, {}, {}, {}
    for k in layers:
        fb, tg = feedback[k].detach(), targets[k].detach()
        if tg.shape != fb.shape:
            tg = tg.reshape(fb.shape)
        bk = np.asarray(fb.cpu().numpy(), dtype=np.float64).reshape(-1)
        wk = np.asarray(tg.cpu().numpy(), dtype=np.float64).reshape(-1)  # a transposed view is copied in W^T's order
        b[k], w[k] = bk, wk
        sq_b[k], sq_w[k], dot[k] = float(bk @ bk), float(wk @ wk), float(bk @ wk)
        # sign(B) = sign(W^T) entry by entry (-1, 0 or +1), without np.sign's slower pass
        same[k] = int(np.count_nonzero(((bk > 0) == (wk > 0)) & ((bk < 0) == (wk < 0))))
        size[k] = bk.size
    for d in (sq_b, sq_w, dot, same, size):
        d["all"] = sum(d.values())

    rows = []
    for k in [*layers, "all"]:
        if sq_b[k] > 0 and sq_w[k] > 0 and math.isfinite(sq_b[k]) and math.isfinite(sq_w[k]):
            group, nb, nw = (layers if k == "all" else [k]), math.sqrt(sq_b[k]), math.sqrt(sq_w[k])
            theta = angle_from_cosine_or_combination(
                dot[k] / (nb * nw),
                lambda s, group=group, nb=nb, nw=nw: sum(float(np.square(b[g] / nb + s * (w[g] / nw)).sum()) for g in group),
            )
            rows.append(("weight_angle", k, theta))
    for k in [*layers, "all"]:
        if sq_w[k] > 0:
            rows.append(("norm_ratio", k, math.sqrt(sq_b[k] / sq_w[k])))
        rows.append(("sign_concordance", k, same[k] / size[k]))
    return rows
