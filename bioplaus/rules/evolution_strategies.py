"""Evolution strategies (Salimans, Ho, Chen, Sidor & Sutskever 2017, arXiv 1703.03864, Algorithm 1 and Sec. 2.1).

The parameters ``theta`` (all of them, flattened to ``d`` numbers) are perturbed by
``sigma * eps`` with ``eps ~ N(0, I_d)``; a population of ``N`` members is evaluated in
mirrored (antithetic) pairs ``theta + sigma eps_i`` and ``theta - sigma eps_i``,
``i = 1 .. N/2``. With the losses ``L_i^+`` and ``L_i^-`` of a pair, the estimate is

    g_hat = 1 / (N/2) * sum_i (L_i^+ - L_i^-) / (2 sigma) * eps_i,

an unbiased estimate of the gradient of the **Gaussian-smoothed loss**
``L_sigma(theta) = E_eps[L(theta + sigma eps)]`` (Salimans et al. 2017, Eq. 2), not of
``L`` itself. The two coincide when ``L`` is quadratic in ``theta`` (smoothing adds a
constant, ``sigma^2 tr(A) / 2``); on ``1/4 sum theta^4`` the smoothed gradient is
``theta^3 + 3 sigma^2 theta``. For a quadratic loss each pair gives ``eps eps^T g``
exactly, whose covariance is ``|g|^2 I + g g^T``: the estimate's ``tr Cov / |g|^2`` is
``2 (d + 1) / N`` whatever ``sigma``, and the angle of the mean of ``m`` estimates to ``g``
is about ``atan sqrt((d - 1) / (N m / 2))``.

With ``fitness_shaping`` the ``N`` losses are replaced by their centred ranks in
``[-1/2, 1/2]`` (Salimans et al. 2017, Sec. 2.1, after Wierstra et al. 2014) before the same
sum: invariant to monotone transforms of the loss and robust to outliers, but no longer in
gradient units and no longer unbiased for any gradient (its mean points along ``g`` only
for a linear loss). ``fitness = "error_rate"`` scores each member by its classification
error on the batch instead of the loss: a target without a gradient, the reason to use ES.

The whole population runs as one batched forward pass (members are a batch dimension of
``torch.baddbmm`` over the layers of a layered network), never a loop over members.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.feedforward import activate
from bioplaus.rules.base import Rule

#: what a member of the population is scored by
FITNESS = ("loss", "error_rate")


def antithetic_noise(params: dict[str, Tensor], pairs: int, generator: torch.Generator) -> dict[str, Tensor]:
    """Standard normal ``eps_i``, ``(pairs, *shape)`` per parameter, in the parameter's dtype and device."""
    return {k: torch.randn((pairs, *p.shape), generator=generator, dtype=p.dtype).to(p.device) for k, p in params.items()}


def centred_ranks(fitness: Tensor) -> Tensor:
    """Centred ranks of ``fitness`` ``(N,)``: the smallest gets ``-1/2``, the largest ``+1/2``, equal steps between
    (Salimans et al. 2017, Sec. 2.1); ties are broken by position. ``N >= 2``."""
    n = fitness.shape[0]
    ranks = torch.empty_like(fitness)
    ranks[fitness.argsort()] = torch.arange(n, dtype=fitness.dtype, device=fitness.device)
    return ranks / (n - 1) - 0.5


def antithetic_estimate(population_loss: Callable[[dict[str, Tensor]], Tensor], params: dict[str, Tensor], sigma: float,
                        pairs: int, generator: torch.Generator, fitness_shaping: bool = False) -> dict[str, Tensor]:
    """One ES estimate from ``pairs`` mirrored pairs (``N = 2 pairs`` members), keyed like ``params``.

    ``population_loss`` maps stacked parameters ``{name: (N, *shape)}`` to the members' losses ``(N,)``;
    members ``0 .. pairs-1`` are ``theta + sigma eps_i``, members ``pairs .. N-1`` are ``theta - sigma eps_i``.
    Returns ``sum_i (F_i^+ - F_i^-) eps_i / (2 sigma pairs)`` with ``F`` the losses, or their centred ranks
    over all ``N`` members when ``fitness_shaping``.
    """
    eps = antithetic_noise(params, pairs, generator)
    members = {k: torch.cat([p + sigma * eps[k], p - sigma * eps[k]]) for k, p in params.items()}
    fitness = population_loss(members)
    if fitness_shaping:
        fitness = centred_ranks(fitness)
    weights = (fitness[:pairs] - fitness[pairs:]) / (2 * sigma * pairs)
    return {k: torch.tensordot(weights.to(e.dtype), e, dims=1) for k, e in eps.items()}


def layered_population_output(model: nn.Module, members: dict[str, Tensor], x: Tensor) -> Tensor:
    """Outputs ``(N, batch, n_out)`` of ``N`` copies of a layered network with stacked parameters
    ``{layers.<l>.weight: (N, n_out, n_in), layers.<l>.bias: (N, n_out)}`` on the same inputs ``x`` ``(batch, n_in)``."""
    n = next(iter(members.values())).shape[0]
    h = x.unsqueeze(0).expand(n, *x.shape)
    for name, act in zip(model.layer_names, model.activations):
        w = members[f"layers.{name}.weight"].transpose(1, 2)
        bias = members.get(f"layers.{name}.bias")
        a = torch.bmm(h, w) if bias is None else torch.baddbmm(bias.unsqueeze(1), h, w)
        h = activate(act, a)
    return h


class EvolutionStrategies(Rule):
    """Evolution strategies (Salimans et al. 2017): mirrored Gaussian weight perturbations, the population as a batch.

    Args: ``sigma``: the perturbations' standard deviation (parameter units; the estimate is of
    the gradient of the loss smoothed at this scale); ``population``: ``N`` members, an even
    number (``N/2`` mirrored pairs); ``fitness_shaping``: replace the losses by centred ranks;
    ``fitness``: ``"loss"`` or ``"error_rate"`` (classification error of each member on the
    batch); ``estimator_samples``: independent estimates drawn at step 0 for
    ``estimate_bias_angle`` and ``estimate_variance`` (stored with step = m)."""

    name = "evolution_strategies"
    title = "evolution strategies"
    colour = "#008080"
    requires = frozenset({"torch", "layered"})

    def __init__(self, sigma: float = 0.01, population: int = 64, fitness_shaping: bool = False, fitness: str = "loss",
                 estimator_samples: int = 256, label: str | None = None):
        super().__init__(label)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
            raise BioplausError(f"rule {self.name!r}: sigma (the perturbations' standard deviation) must be a positive number, "
                                f"got {sigma!r}.")
        if isinstance(population, bool) or not isinstance(population, int) or population < 2 or population % 2:
            raise BioplausError(f"rule {self.name!r}: population must be an even integer >= 2 (members come in mirrored pairs "
                                f"theta +- sigma eps), got {population!r}.")
        if fitness not in FITNESS:
            raise BioplausError(f"rule {self.name!r}: unknown fitness {fitness!r}; allowed values are {allowed(FITNESS)}.")
        self.sigma, self.population, self.fitness_shaping = float(sigma), population, bool(fitness_shaping)
        self.fitness, self.estimator_samples = fitness, int(estimator_samples)
        self.generator: torch.Generator | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator

    def population_loss(self, model: nn.Module, batch: Batch) -> Callable[[dict[str, Tensor]], Tensor]:
        """Stacked parameters ``(N, ...)`` -> each member's loss (or error rate) on ``batch``, ``(N,)``."""
        def score(members: dict[str, Tensor]) -> Tensor:
            out = layered_population_output(model, members, batch.x)
            if self.fitness == "error_rate":
                return (out.argmax(-1) != batch.y).to(out.dtype).mean(-1)
            return torch.vmap(batch.loss_fn, in_dims=(0, None))(out, batch.y)
        return score

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        if self.generator is None:  # a rule used outside a run draws from a fixed stream
            self.generator = torch.Generator().manual_seed(0)
        params = {k: v.detach() for k, v in model.named_parameters()}
        return antithetic_estimate(self.population_loss(model, batch), params, self.sigma, self.population // 2,
                                   self.generator, self.fitness_shaping)

    def config(self) -> dict:
        return {**super().config(), "sigma": self.sigma, "population": self.population,
                "fitness_shaping": self.fitness_shaping, "fitness": self.fitness, "estimator_samples": self.estimator_samples}
