"""Target alignment (Song, Millidge, Salvatori, Lukasiewicz, Xu & Bogacz 2024, "Inferring neural activity before
plasticity as a foundation for learning beyond backpropagation", Nature Neuroscience 27:348-358).

How directly a weight update moves the output toward the target: the cosine between the output's change
caused by the update and the direction from the output to the target, ``cos(o_after - o_before,
y - o_before)``, over the whole batch. 1 when the update moves every output straight at its target;
backprop's update, a gradient step in weight space, moves the output along ``-J J^T e`` instead, which
bends away from the target wherever outputs share weights (the interference prospective configuration
avoids).
"""

from __future__ import annotations

import math

from torch import Tensor


def target_alignment(before: Tensor, after: Tensor, target: Tensor) -> float | None:
    """``cos(after - before, target - before)`` of the flattened ``(batch, n_out)`` outputs, in float64;
    ``None`` when either difference is zero."""
    change = (after - before).double().reshape(-1)
    wanted = (target - before).double().reshape(-1)
    norm = float(change.norm()) * float(wanted.norm())
    if norm == 0 or not math.isfinite(norm):
        return None
    return float(change @ wanted) / norm
