"""REINFORCE as approximate RTRL (Cooijmans & Martens 2019, arXiv:1902.02405, Sec. 3).

Gaussian noise of scale ``sigma`` is injected into the state, ``h_t = F(h_{t-1}, x_t) + sigma xi_t``
with ``xi_t ~ N(0, I)``, and the likelihood-ratio (score-function) estimator of the gradient
of the *noise-smoothed* loss ``E_xi[L]`` is used::

    g = sum_t (L_t - b_t) e_t,    e_t = sum_{s <= t} (xi_s / sigma)^T Mbar_s,
    (xi_s^T Mbar_s)[i, j] = xi_s,i alpha phi'(a_s,i) z_s,j

where ``e_t`` is the eligibility of the log-likelihood of the noisy trajectory and the
baseline ``b_t`` is the loss of the noise-free trajectory at step ``t`` (independent of
the noise, so the estimator stays unbiased). Since
``E[(h_t - h_t^0) / sigma (x) e_t] ~ M_t``, it is RTRL with a rank-one, noise-driven
influence estimate: unbiased for ``E_xi[L]``, whose gradient differs from the noise-free
gradient by ``O(sigma^2)``. ``O(n^2)`` per step. The loss must provide ``per_step``
(:class:`bioplaus.tasks.sequence.SequenceSquaredError` does).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rate.recurrent import run_rnn
from bioplaus.core import Batch
from bioplaus.rules.online import OnlineRule, SequencePass, accumulate, estimate_buffer

BASELINES = ("noise_free", "none")


class ReinforceRTRL(OnlineRule):
    """Likelihood-ratio gradient estimate from state noise of scale ``sigma``, with a noise-free baseline."""

    name = "reinforce_rtrl"
    title = "REINFORCE-as-RTRL"
    colour = "#e377c2"

    def __init__(self, sigma: float = 0.05, baseline: str = "noise_free", label: str | None = None, update_every: int | None = None):
        if not sigma > 0:
            raise BioplausError(f"rule 'reinforce_rtrl': sigma must be positive, got {sigma!r}.")
        if baseline not in BASELINES:
            raise BioplausError(f"rule 'reinforce_rtrl': baseline is {baseline!r}; allowed values are 'noise_free' or 'none'.")
        super().__init__(label, update_every)
        self.sigma, self.baseline = float(sigma), baseline

    def state_noise(self, model: nn.Module, batch: Batch) -> Tensor:
        x = batch.x
        return self.sigma * self.gaussian((x.shape[0], x.shape[1], model.n_hidden), model.w)

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        per_step = getattr(batch.loss_fn, "per_step", None)
        if per_step is None:
            raise BioplausError("rule 'reinforce_rtrl' needs a loss with per-step values (a sequence task's loss).")
        traj = sp.trajectory
        noise = sp.noise
        batch_size, steps, n = noise.shape
        with torch.no_grad():
            advantage = per_step(sp.output, batch.y) / batch_size
            if self.baseline == "noise_free":
                clean = run_rnn(model.w.detach(), batch.x.to(model.w.dtype), model.alpha, model.activation,
                                h0=carry.get("clean_h") if carry else None)
                advantage = advantage - per_step(model.readout(clean.h[:, 1:]), batch.y) / batch_size
                if carry is not None:
                    carry["clean_h"] = clean.h[:, -1]
            score = noise / self.sigma**2 * traj.slope  # (xi_t / sigma) * alpha phi'(a_t)
            elig = carry["elig"] if carry and "elig" in carry else traj.z.new_zeros((batch_size, n, traj.z.shape[-1]))
            grad = estimate_buffer(elig, per_sequence)
            for t in range(steps):
                elig.addcmul_(score[:, t, :, None], traj.z[:, t, None, :])
                accumulate(grad, advantage[:, t], elig)
        if carry is not None:
            carry["elig"] = elig
        return grad

    def config(self) -> dict[str, Any]:
        return {**super().config(), "sigma": self.sigma, "baseline": self.baseline}
