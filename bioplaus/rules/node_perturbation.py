"""Node perturbation (Werfel, Xie & Seung 2005, Neural Comput. 17:2699; Williams 1992).

Gaussian noise ``xi_l ~ N(0, sigma^2)`` is added to every unit's pre-activation
``a_l = W_l h_{l-1} + b_l`` of layer ``l`` (all layers at once); the change of the loss
against a clean pass, ``dL = L(perturbed) - L(clean)``, is the global scalar
reinforcement signal. The estimate of dL/dW_l is ``dL / sigma^2 * xi_l^T h_{l-1}``
(``h`` from the clean pass), summed over the batch, and ``dL / sigma^2 * sum_b xi_l``
for the biases. Since ``E[xi xi^T] = sigma^2 I`` and odd moments vanish, the mean is the
exact gradient whenever the loss is quadratic in the perturbations: a linear network with
squared error (Werfel et al. 2005); otherwise it is biased by O(sigma^2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rate.feedforward import activate
from bioplaus.core import Batch
from bioplaus.rules.base import Rule


def perturbed_pass(model: nn.Module, x: Tensor, noise: list[Tensor] | None) -> tuple[Tensor, list[Tensor]]:
    """Output ``(batch, n_out)`` with ``noise[l]`` ``(batch, n_l)`` added to layer ``l``'s pre-activation,
    and the inputs ``h_{l-1}`` of every layer ``(batch, n_{l-1})``."""
    h, inputs = x, []
    for l, (name, act) in enumerate(zip(model.layer_names, model.activations)):
        inputs.append(h)
        a = model.linear(name)(h)
        if noise is not None:
            a = a + noise[l]
        h = activate(act, a)
    return h, inputs


def node_noise(model: nn.Module, batch_size: int, sigma: float, generator: torch.Generator, like: Tensor) -> list[Tensor]:
    """``N(0, sigma^2)`` noise for every unit of every layer, ``(batch, n_l)`` each."""
    return [(torch.randn((batch_size, model.linear(n).out_features), generator=generator, dtype=torch.float64) * sigma)
            .to(dtype=like.dtype, device=like.device) for n in model.layer_names]


def node_estimate(model: nn.Module, inputs: list[Tensor], noise: list[Tensor], signal: float, sigma: float) -> dict[str, Tensor]:
    """``signal / sigma^2 * xi_l^T h_{l-1}`` per layer (and ``sum_b xi_l`` for biases), keyed like ``named_parameters``."""
    out: dict[str, Tensor] = {}
    scale = signal / sigma**2
    for name, h, xi in zip(model.layer_names, inputs, noise):
        layer = model.linear(name)
        out[f"layers.{name}.weight"] = scale * xi.t().mm(h)
        if layer.bias is not None:
            out[f"layers.{name}.bias"] = scale * xi.sum(0)
    return out


class NoiseRule(Rule):
    """Base of the rules that learn from injected Gaussian noise of scale ``sigma`` (node and
    weight perturbation, reward-modulated Hebbian): the checked parameters, the rule's own
    generator (from the run's seed in ``setup``) and the estimator-statistics sample count."""

    requires = frozenset({"torch", "layered"})

    def __init__(self, sigma: float = 1e-3, estimator_samples: int = 1024, label: str | None = None):
        super().__init__(label)
        if not sigma > 0:
            raise BioplausError(f"rule {self.name!r}: sigma (the noise's standard deviation) must be positive, got {sigma!r}.")
        self.sigma, self.estimator_samples = float(sigma), int(estimator_samples)
        self.generator: torch.Generator | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator

    def noise_generator(self) -> torch.Generator:
        """The run's generator; a fixed one (seed 0) for a rule used outside a run."""
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(0)
        return self.generator

    def config(self) -> dict:
        return {**super().config(), "sigma": self.sigma, "estimator_samples": self.estimator_samples}


class NodePerturbation(NoiseRule):
    """Node perturbation (Werfel et al. 2005): the loss change from noise on every unit's pre-activation, times that noise.

    Args: ``sigma``: standard deviation of the node noise (in units of the pre-activation);
    ``estimator_samples``: independent estimates drawn at step 0 for ``estimate_bias_angle``
    and ``estimate_variance`` (stored with step = m)."""

    name = "node_perturbation"
    title = "node perturbation"
    colour = "#8c564b"

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        clean, inputs = perturbed_pass(model, batch.x, None)
        noise = node_noise(model, batch.x.shape[0], self.sigma, self.noise_generator(), batch.x)
        noisy, _ = perturbed_pass(model, batch.x, noise)
        signal = float(batch.loss(noisy)) - float(batch.loss(clean))
        return node_estimate(model, inputs, noise, signal, self.sigma)
