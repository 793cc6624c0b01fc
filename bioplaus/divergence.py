"""When a run has diverged: a pure criterion over its training losses, beyond NaN and infinity.

A loss that grows by orders of magnitude (a learning rate of 1e6 gives losses of 2e5 for a
start near 50) is not a result to average, even while it stays finite. :func:`diverged_at`
flags the first step of a *sustained* stretch above ``factor`` times the initial loss, so a
single noisy batch does not end a run. The run loop calls it on the losses it has seen and
stores the run as ``diverged`` with that step; :class:`DivergenceCriterion` holds the
per-protocol settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bioplaus.errors import BioplausError


@dataclass(frozen=True)
class DivergenceCriterion:
    """``factor``: a loss above ``factor * |initial loss|`` counts as exploding (default 1e3, three
    orders of magnitude); ``patience``: that many consecutive exploding losses make the run
    diverged (default 10); ``min_scale``: a floor on the reference, so that an initial loss of
    (almost) 0 does not make every later loss explode."""

    factor: float = 1e3
    patience: int = 10
    min_scale: float = 1e-8

    def __post_init__(self) -> None:
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)) or not math.isfinite(self.factor) or self.factor <= 1:
            raise BioplausError(f"divergence field 'factor' must be a finite number > 1, got {self.factor!r}.")
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 1:
            raise BioplausError(f"divergence field 'patience' must be a positive integer, got {self.patience!r}.")
        if not isinstance(self.min_scale, (int, float)) or not self.min_scale > 0:
            raise BioplausError(f"divergence field 'min_scale' must be a number > 0, got {self.min_scale!r}.")


def diverged_at(losses: Sequence[float], initial_loss: float, factor: float = 1e3, patience: int = 10,
                min_scale: float = 1e-8) -> int | None:
    """The index into ``losses`` at which the run diverged, or ``None``.

    ``losses``: training losses in step order (one per step, or per recorded step);
    ``initial_loss``: the loss before training. A non-finite loss diverges at once; otherwise the
    first index of the first run of ``patience`` consecutive losses above
    ``factor * max(|initial_loss|, min_scale)``.
    """
    threshold = factor * max(abs(initial_loss), min_scale) if math.isfinite(initial_loss) else math.inf
    stretch_start, stretch = None, 0
    for i, loss in enumerate(losses):
        if not math.isfinite(loss):
            return i
        if loss > threshold:
            stretch_start = i if stretch == 0 else stretch_start
            stretch += 1
            if stretch >= patience:
                return stretch_start
        else:
            stretch = 0
    return None


def diverged(losses: Sequence[float], initial_loss: float, factor: float = 1e3, patience: int = 10) -> bool:
    """Whether :func:`diverged_at` finds a divergence."""
    return diverged_at(losses, initial_loss, factor, patience) is not None


class DivergenceWatch:
    """:func:`diverged_at` fed one loss at a time, as a run loop sees them (O(1) per step).

    ``update(loss)`` returns the index of the first loss of the stretch that made the run
    diverge (counting from the first loss given, which is the initial loss), or ``None``.
    """

    def __init__(self, criterion: DivergenceCriterion):
        self.criterion = criterion
        self.threshold: float | None = None
        self.seen = 0
        self.stretch_start: int | None = None
        self.stretch = 0

    def update(self, loss: float) -> int | None:
        i = self.seen
        self.seen += 1
        if not math.isfinite(loss):
            return i
        if self.threshold is None:
            c = self.criterion
            self.threshold = c.factor * max(abs(loss), c.min_scale)
            return None
        if loss > self.threshold:
            self.stretch_start = i if self.stretch == 0 else self.stretch_start
            self.stretch += 1
            if self.stretch >= self.criterion.patience:
                return self.stretch_start
        else:
            self.stretch = 0
        return None
