"""Weight perturbation (Werfel, Xie & Seung 2005, Neural Comput. 17:2699; Jabri & Flower 1992).

Every parameter is perturbed by ``xi ~ N(0, sigma^2)`` at once; the loss change against the
clean network, ``dL = L(W + xi) - L(W)``, times ``xi / sigma^2`` estimates dL/dW. The mean is
the exact gradient when the loss is quadratic in the weights (a single linear layer with
squared error, Werfel et al.'s case); in deeper or nonlinear networks it is biased by O(sigma^2).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.func import functional_call

from bioplaus.core import Batch
from bioplaus.rules.node_perturbation import NoiseRule


class WeightPerturbation(NoiseRule):
    """Weight perturbation (Werfel et al. 2005): the loss change from noise on every weight, times that noise.

    Args: ``sigma``: standard deviation of the weight noise; ``estimator_samples``: see
    :class:`bioplaus.rules.node_perturbation.NodePerturbation`."""

    name = "weight_perturbation"
    title = "weight perturbation"
    colour = "#e377c2"

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        generator = self.noise_generator()
        params = {k: v.detach() for k, v in model.named_parameters()}
        noise = {k: (torch.randn(v.shape, generator=generator, dtype=torch.float64) * self.sigma).to(v.dtype)
                 for k, v in params.items()}
        clean = float(batch.loss(model(batch.x)))
        noisy = float(batch.loss(functional_call(model, {k: params[k] + noise[k] for k in params}, (batch.x,))))
        scale = (noisy - clean) / self.sigma**2
        return {k: scale * xi for k, xi in noise.items()}

