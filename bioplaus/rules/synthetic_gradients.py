"""Synthetic gradients for recurrent networks (Jaderberg et al., ICML 2017, Sec. 3.3 and Fig. 2).

Truncated BPTT over non-overlapping windows of ``k`` steps, except that at the end of each
window (not the last) the gradient of the *future* loss with respect to the boundary state
is not dropped but predicted by a learned linear map ``S(h) = Theta [h; 1]`` (``Theta``:
``(n, n + 1)``, zero at the start), so each window's surrogate objective is
``L_window + <S(h_end), h_end>`` with ``S(h_end)`` held constant.

``S`` is trained by regression on bootstrapped targets, which is TD learning of the
future loss's gradient (Silver's framing in the talk "Synthetic gradients and TD"): for the
state ``h_start`` that opens a window, the target is ::

    delta = dL_window / dh_start + lambda (dh_end / dh_start)^T S(h_end)

(``lambda = 1``: Jaderberg et al.'s bootstrap; ``lambda = 0``: only the window's own loss),
and ``Theta`` takes one SGD step on ``1/2 |S(h_start) - delta|^2`` (mean over boundaries
and sequences) with rate ``lr`` after every parameter update. Units: ``S`` predicts one
sequence's gradient (the batch loss's ``1/B`` is applied when it is used). With ``Theta = 0``
it is truncated BPTT over the same windows.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rate.recurrent import rnn_step
from bioplaus.core import Batch
from bioplaus.rules.online import RecurrentRule, autograd_estimate


class SyntheticGradients(RecurrentRule):
    """Truncated BPTT with a learned linear predictor of the boundary gradient."""

    name = "synthetic_gradients"
    title = "synthetic gradients"
    colour = "#d62728"

    def __init__(self, k: int = 5, bootstrap: float = 1.0, lr: float = 0.1, label: str | None = None):
        if not isinstance(k, int) or k < 1:
            raise BioplausError(f"rule 'synthetic_gradients': k must be a positive integer, got {k!r}.")
        if not 0.0 <= bootstrap <= 1.0:
            raise BioplausError(f"rule 'synthetic_gradients': bootstrap (lambda) must be in [0, 1], got {bootstrap!r}.")
        super().__init__(label)
        self.k, self.bootstrap, self.lr = k, float(bootstrap), float(lr)
        self.theta: Tensor | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        super().setup(model, generator)
        n = model.n_hidden
        self.theta = model.w.new_zeros((n, n + 1)).detach()

    def predict(self, h: Tensor) -> Tensor:
        """``S(h) = Theta [h; 1]``: ``(batch, n)`` predicted ``d(future loss of one sequence)/dh``."""
        return h @ self.theta[:, :-1].t() + self.theta[:, -1]

    def windows(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor, list[Tensor], list[Tensor]]:
        """Run the windows: ``(loss, bootstrap term sum <S(h_end), h_end> / B, window start states, end states)``.

        Each window starts from a detached leaf (``requires_grad``) so that gradients with
        respect to it can be taken.
        """
        x = batch.x.to(model.w.dtype)
        batch_size, steps, _ = x.shape
        h = x.new_zeros((batch_size, model.n_hidden))
        states, starts, ends = [], [], []
        term = x.new_zeros(())
        for t in range(steps):
            if t % self.k == 0 and t > 0:
                ends.append(h)
                term = term + (self.predict(h.detach()) * h).sum() / batch_size
                h = h.detach().requires_grad_(True)
                starts.append(h)
            h, _ = rnn_step(h, x[:, t], model.w, model.alpha, model.activation)
            states.append(h)
        loss = batch.loss(model.readout(torch.stack(states, 1)))
        return loss, term, starts, ends

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        loss, term, _, _ = self.windows(model, batch)
        return autograd_estimate(model, loss + term)

    def predictor_targets(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        """``(h_start, delta)``, each ``(boundaries * batch, n)``: boundary states and their bootstrapped targets."""
        loss, term, starts, _ = self.windows(model, batch)
        if not starts:
            empty = model.w.new_zeros((0, model.n_hidden))
            return empty, empty
        batch_size = batch.x.shape[0]
        own = torch.autograd.grad(loss, starts, retain_graph=True, allow_unused=True)
        boot = torch.autograd.grad(term, starts, allow_unused=True) if term.requires_grad else [None] * len(starts)
        deltas = []
        for s, g_own, g_boot in zip(starts, own, boot):
            d = torch.zeros_like(s) if g_own is None else g_own
            if g_boot is not None:
                d = d + self.bootstrap * g_boot
            deltas.append(d * batch_size)
        return torch.cat([s.detach() for s in starts]), torch.cat(deltas).detach()

    def after_step(self, model: nn.Module, batch: Batch, estimate: dict[str, Tensor]) -> None:
        h, delta = self.predictor_targets(model, batch)
        if h.shape[0] == 0:
            return
        z = torch.cat([h, torch.ones_like(h[:, :1])], 1)
        residual = self.predict(h) - delta
        self.theta -= self.lr * residual.t() @ z / h.shape[0]

    def arrays(self) -> dict[str, Any]:
        return {} if self.theta is None else {"synthetic_gradient/theta": self.theta.cpu().numpy()}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "k": self.k, "bootstrap": self.bootstrap, "lr": self.lr}
