"""Reward-modulated Hebbian learning: reward-prediction error x presynaptic activity x postsynaptic noise.

The network runs once, with exploration noise ``xi_l ~ N(0, sigma^2)`` on every unit's
pre-activation (no clean pass). The modulator is the reward-prediction error
``R - R_bar`` with reward ``R = -L`` and ``R_bar`` a running average of past rewards
(a critic, ``R_bar <- R_bar + alpha (R - R_bar)`` after each update), as in the
three-factor rules of Frémaux & Gerstner 2016 (Front. Neural Circuits 9:85) and the node
perturbation of Werfel et al. 2005. In gradient units of the loss the estimate is
``(L - L_bar) / sigma^2 * xi_l^T h_{l-1}``. The critic does not depend on the current
noise, so for a single linear layer with squared error the mean is the exact gradient, with
more variance than node perturbation while ``L_bar`` differs from the clean loss. The
presynaptic activity ``h_{l-1}`` is the noisy one (what the synapse sees); in deeper
networks its noise correlates with the loss change, an O(sigma^2) bias that node
perturbation avoids by reading ``h`` from a clean pass.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.core import Batch
from bioplaus.rules.node_perturbation import NoiseRule, node_estimate, node_noise, perturbed_pass


class RewardModulatedHebbian(NoiseRule):
    """Reward-modulated Hebbian rule: (loss - its running average) x presynaptic activity x postsynaptic noise.

    Args: ``sigma``: exploration noise; ``critic_rate``: ``alpha`` of the running average of
    the loss; ``estimator_samples``: see :class:`~bioplaus.rules.node_perturbation.NodePerturbation`."""

    name = "reward_modulated_hebbian"
    title = "reward-modulated Hebbian"
    colour = "#bcbd22"

    def __init__(self, sigma: float = 1e-3, critic_rate: float = 0.05, estimator_samples: int = 1024, label: str | None = None):
        super().__init__(sigma, estimator_samples, label)
        if not 0 < critic_rate <= 1:
            raise BioplausError(f"rule {self.name!r}: critic_rate must be in (0, 1], got {critic_rate!r}.")
        self.critic_rate = float(critic_rate)
        self.expected_loss: float | None = None  # the critic: running average of the (noisy) loss
        self._last_loss: float | None = None
        self._first_baseline = 0.0

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        super().setup(model, generator)
        self.expected_loss, self._last_loss = None, None

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        noise = node_noise(model, batch.x.shape[0], self.sigma, self.noise_generator(), batch.x)
        noisy, inputs = perturbed_pass(model, batch.x, noise)
        loss = float(batch.loss(noisy))
        self._last_loss = loss
        baseline = self.expected_loss
        if baseline is None:  # before the first update the critic starts from the clean loss
            baseline = float(batch.loss(perturbed_pass(model, batch.x, None)[0]))
            self._first_baseline = baseline
        return node_estimate(model, inputs, noise, loss - baseline, self.sigma)

    def after_step(self, model: nn.Module, batch: Batch, estimate: dict[str, Tensor]) -> None:
        """The critic learns: move the expected loss towards the loss just seen."""
        if self._last_loss is None:
            return
        if self.expected_loss is None:
            self.expected_loss = self._first_baseline
        self.expected_loss += self.critic_rate * (self._last_loss - self.expected_loss)

    def config(self) -> dict:
        return {**super().config(), "critic_rate": self.critic_rate}
