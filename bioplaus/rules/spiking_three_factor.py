"""A reward-modulated three-factor rule for spiking networks: eligibility traces gated by one global scalar.

The rule follows a *stochastic* version of the model: every spike is drawn with the escape-noise
probability ``rho_j^t = sigmoid((v^_j^t - A_j^t) / temperature)`` (0 while refractory), the rest of
the dynamics unchanged (:func:`bioplaus.snn.lif.run_lif` with a sampling spike). For such a policy
over spike trains the score ``d log pi / dW_ji`` is local to the synapse (R-max, Fremaux, Sprekeler &
Gerstner 2010, in discrete time; Williams 1992)::

    d log pi / dW_ji = sum_t (z_j^t - rho_j^t) / temperature * d(v^_j^t - A_j^t)/dW_ji

where the derivative holds the sampled spikes fixed, so it runs only through neuron ``j``'s own
current and membrane (the e-prop recursion of :mod:`bioplaus.rules.spiking_eprop` with the
reset's and the adaptation's spike terms dropped, because the spikes are given). With the reward of
a trial ``R_b = -loss_b`` and a baseline ``R_bar`` (a running mean of earlier batches' rewards, decay
``baseline_decay``; the first batch uses its own mean), the estimate of ``dLoss/dW`` is::

    -(1/B) sum_b (R_b - R_bar) d log pi_b / dW

Three factors: presynaptic activity and the postsynaptic ``(z - rho)`` in the eligibility trace, and the
global scalar ``R - R_bar``. **What it estimates**: the gradient of the expected reward of the
stochastic network it samples (unbiased, with a baseline that does not depend on the trial), not the
gradient of the deterministic network's loss that surrogate BPTT gives; the angle between the two
measures how far a single scalar takes learning compared with a per-neuron learning signal.
``tests/test_snn.py`` checks the identity on an enumerated tiny network: the score weighted by each
spike train's probability and reward equals the gradient of the expected reward. The read-out learns
by its exact (local) gradient on the sampled spikes; with spiking read-out units (``output = "spike_count"``)
that is their surrogate gradient, the hidden layer's estimate unchanged (the score holds for any reward of the spikes).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rules.base import Rule
from bioplaus.rules.spiking_eprop import eligibility_sum
from bioplaus.snn.lif import LIFTrajectory


def escape_probability(tr: LIFTrajectory, temperature: float) -> Tensor:
    """``rho_j^t = sigmoid(distance / temperature)``, 0 while refractory: ``(batch, T, n)``."""
    return torch.sigmoid(tr.distance / temperature) * (1.0 - tr.refractory)


def weighted_score(model: nn.Module, x: Tensor, tr: LIFTrajectory, temperature: float, weights: Tensor) -> dict[str, Tensor]:
    """``sum_b weights_b d log pi(z_b) / dW`` for the input and recurrent weights of ``model`` (module docstring),
    for sampled spike trains ``tr.z`` ``(batch, T, n)`` of inputs ``x`` ``(batch, T, n_in)``; ``weights`` ``(batch,)``."""
    c, spec = model.constants, model.spec
    signal = weights[:, None, None] * (tr.z - escape_probability(tr, temperature)) / temperature
    pre = torch.cat([x, tr.z], 2) if spec.recurrent else x
    given_spikes = c._replace(adapt_strength=0.0, detach_reset=True, kappa=0.0)  # spikes fixed: no spike terms
    grad = eligibility_sum(signal, torch.ones_like(signal), pre, tr, given_spikes)
    out = {"input.weight": grad[:, : spec.n_in]}
    if spec.recurrent:
        out["recurrent.weight"] = grad[:, spec.n_in :] * model.no_self
    return out


def per_sample_loss(batch: Batch, output: Tensor) -> Tensor:
    """Each sample's loss ``(batch,)``: the batch loss of each sample alone (vectorised with ``torch.func.vmap``)."""
    return torch.func.vmap(lambda o, y: batch.loss_fn(o[None], y[None]))(output, batch.y)


class SpikingThreeFactor(Rule):
    """Escape-noise spiking with eligibility traces gated by one global scalar, reward minus a running baseline (R-max-like)."""

    name = "spiking_three_factor"
    title = "three-factor (spiking)"
    colour = "#e377c2"
    requires = frozenset({"torch", "spiking:torch"})

    def __init__(self, temperature: float = 0.1, baseline_decay: float = 0.9, label: str | None = None):
        if not temperature > 0 or not 0 <= baseline_decay < 1:
            raise BioplausError(f"rule {self.name!r}: temperature is {temperature!r} and baseline_decay {baseline_decay!r}; "
                                "allowed values are a positive temperature (threshold units) and a decay in [0, 1).")
        super().__init__(label)
        self.temperature, self.baseline_decay = temperature, baseline_decay
        self.baseline: float | None = None
        self.generator: torch.Generator | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator, self.baseline = generator, None

    def sample(self, model: nn.Module, x: Tensor) -> LIFTrajectory:
        """A run of the stochastic network on ``x`` (no graph): spikes drawn from the rule's generator."""
        def spike(distance: Tensor) -> Tensor:
            p = torch.sigmoid(distance / self.temperature)
            u = torch.rand(p.shape, generator=self.generator, dtype=torch.float64).to(p)
            return (u < p).to(p.dtype)

        with torch.no_grad():
            return model.trajectory(x, spike)

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        x = batch.x.to(model.w_in.dtype)
        tr = self.sample(model, x)
        w_out, b_out = model.readout.weight, model.readout.bias
        output = model.readout_output(tr.z)
        g_w, g_b = torch.autograd.grad(batch.loss(output), [w_out, b_out])
        with torch.no_grad():
            reward = -per_sample_loss(batch, output.detach())
            baseline = float(reward.mean()) if self.baseline is None else self.baseline
            grads = weighted_score(model, x, tr, self.temperature, -(reward - baseline) / x.shape[0])
            d = self.baseline_decay
            self.baseline = float(reward.mean()) if self.baseline is None else d * self.baseline + (1 - d) * float(reward.mean())
        return {**grads, "readout.weight": g_w, "readout.bias": g_b}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "temperature": self.temperature, "baseline_decay": self.baseline_decay}
