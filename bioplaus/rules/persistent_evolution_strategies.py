"""Persistent evolution strategies (Vicol, Metz & Sohl-Dickstein, ICML 2021, Alg. 2), and truncated ES for contrast.

A sequence of ``T`` steps is unrolled in truncations of ``k`` steps. For each truncation ``tau`` every
mirrored pair ``i`` draws ``eps_{tau,i} ~ N(0, I_d)`` and its two particles run with ``theta +- sigma eps``
from **their own** states, carried over from the previous truncation. PES accumulates the noise each
particle has seen, ``xi_{tau,i} = sum_{tau' <= tau} eps_{tau',i}``, and adds

    g += 1 / pairs * sum_i (L_{tau,i}^+ - L_{tau,i}^-) / (2 sigma) * xi_{tau,i}

with ``L_tau`` the loss of truncation ``tau`` (its steps' terms of the sequence loss). The sum over
truncations is unbiased for the gradient of ``E[L(theta + sigma eps_1, ..., theta + sigma eps_T/k)]``:
the loss smoothed by independent noise per truncation (Vicol et al. 2021, Sec. 4). Where ``theta``
enters the dynamics linearly and the loss is quadratic in the states (influence balancing, Tallec &
Ollivier 2018), that smoothing only adds a constant, and PES is unbiased for the full-unroll (BPTT)
gradient. Truncated ES (``persistent = False``) starts every truncation's particles from the
unperturbed state and weights each truncation's loss by that truncation's noise only: it ignores the
effect of earlier parameters on later losses and is biased like truncated BPTT.

The particles are a batch dimension (``torch.bmm`` over ``2 pairs`` copies of ``W``), never a loop;
one estimate per batch of sequences (all parameters fixed within it, as for the other
through-time rules). Perturbed: the directions the model trains (its ``project``: every parameter of a vanilla cell,
``theta`` alone for influence balancing; :func:`projected_noise`). Requires a
vanilla or influence-balancing cell and a loss with ``per_step`` (the sequence tasks').
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError
from bioplaus.rate.feedforward import activate
from bioplaus.rules.evolution_strategies import antithetic_noise
from bioplaus.rules.online import RecurrentRule


def mirrored(p: Tensor, e: Tensor, sigma: float) -> Tensor:
    """``(2 pairs, *shape)``: ``p + sigma e_i`` for the first ``pairs`` particles, ``p - sigma e_i`` for the rest."""
    return torch.cat([p + sigma * e, p - sigma * e])


def unroll(w: Tensor, h: Tensor, x: Tensor, alpha: float, activation: str) -> Tensor:
    """States ``(particles, batch, steps, n)`` of particles with weights ``w`` ``(particles, n, n + m + 1)`` from
    states ``h`` ``(particles, batch, n)`` on inputs ``x`` ``(batch, steps, m)`` (shared by the particles)."""
    particles, batch, _ = h.shape
    ones = h.new_ones((particles, batch, 1))
    out = []
    for t in range(x.shape[1]):
        z = torch.cat([h, x[:, t].expand(particles, -1, -1), ones], -1)
        h = (1.0 - alpha) * h + alpha * activate(activation, torch.bmm(z, w.transpose(1, 2)))
        out.append(h)
    return torch.stack(out, 2)


def projected_noise(model: nn.Module) -> Callable[[dict[str, Tensor]], dict[str, Tensor]]:
    """Noise ``{name: (pairs, *shape)}`` -> its image under the model's ``project`` (``P``) over ``lambda``, where
    ``P^2 = lambda P`` (influence balancing: ``P = s s^T``, ``lambda = |s|^2``; an unconstrained model: ``P = I``,
    ``lambda = 1``): ``delta = P eps / lambda`` has ``E[delta delta^T] = P / lambda``.
    The estimate's mean is then ``(P / lambda) g``, which the run loop's ``project`` maps to ``P g`` like the
    exact gradient; the variance is that of a ``rank P``-dimensional problem."""
    probe = {k: torch.randn(v.shape, generator=torch.Generator().manual_seed(0), dtype=v.dtype)
             for k, v in model.named_parameters()}
    once = model.project(probe)
    twice = model.project(once)
    lam = float(sum((twice[k] * once[k]).sum() for k in once) / sum(once[k].square().sum() for k in once))
    project = torch.vmap(model.project)
    return lambda eps: {k: v / lam for k, v in project(eps).items()}


def es_through_time(params: dict[str, Tensor], batch: Batch, alpha: float, activation: str, k: int, sigma: float,
                    pairs: int, generator: torch.Generator, persistent: bool,
                    noise_map: Callable[[dict[str, Tensor]], dict[str, Tensor]] | None = None) -> dict[str, Tensor]:
    """One PES (``persistent``) or truncated-ES estimate of the sequence loss's gradient, keyed like ``params``
    (``recurrent.weight``, ``readout.weight``, ``readout.bias``), from sequences ``batch.x`` ``(batch, T, m)``;
    ``noise_map`` maps each truncation's standard normal noise to the perturbation directions (default: identity)."""
    x, y = batch.x.to(params["recurrent.weight"].dtype), batch.y
    n_batch, steps, _ = x.shape
    n = params["recurrent.weight"].shape[0]
    h = x.new_zeros((2 * pairs, n_batch, n))  # the particles' own states (PES)
    clean = x.new_zeros((1, n_batch, n))  # the unperturbed state (truncated ES starts every truncation here)
    xi = {key: torch.zeros((pairs, *p.shape), dtype=p.dtype) for key, p in params.items()}
    estimate = {key: torch.zeros_like(p) for key, p in params.items()}
    for t0 in range(0, steps, k):
        eps = antithetic_noise(params, pairs, generator)
        if noise_map is not None:
            eps = noise_map(eps)
        xi = {key: xi[key] + eps[key] for key in xi} if persistent else eps
        start = h if persistent else clean.expand(2 * pairs, -1, -1)
        states = unroll(mirrored(params["recurrent.weight"], eps["recurrent.weight"], sigma), start, x[:, t0 : t0 + k], alpha, activation)
        out = torch.einsum("pbtn,pon->pbto", states, mirrored(params["readout.weight"], eps["readout.weight"], sigma)) \
            + mirrored(params["readout.bias"], eps["readout.bias"], sigma)[:, None, None, :]
        window = out.shape[2]
        target = y[:, t0 : t0 + window].repeat(2 * pairs, 1, 1)
        losses = batch.loss_fn.per_step(out.reshape(2 * pairs * n_batch, window, -1), target)
        losses = losses.reshape(2 * pairs, n_batch, window).sum(-1).mean(-1)  # (particles,): this truncation's loss
        weights = (losses[:pairs] - losses[pairs:]) / (2 * sigma * pairs)
        for key in estimate:
            estimate[key] += torch.tensordot(weights, xi[key], dims=1)
        h = states[:, :, -1]
        if not persistent:
            clean = unroll(params["recurrent.weight"].unsqueeze(0), clean, x[:, t0 : t0 + k], alpha, activation)[:, :, -1]
    return estimate


class PersistentEvolutionStrategies(RecurrentRule):
    """Persistent ES (Vicol et al. 2021): ES over truncated unrolls with the noise accumulated across truncations.

    Args: ``sigma``: perturbation scale; ``population``: particles (an even number, mirrored pairs);
    ``k``: steps per truncation; ``persistent``: ``False`` gives truncated ES (the biased baseline);
    ``estimator_samples``: independent estimates at step 0 for the estimator statistics (0: none)."""

    name = "persistent_evolution_strategies"
    title = "PES"
    colour = "#66a61e"
    requires = frozenset({"torch", "recurrent", "recurrent:influence"})

    def __init__(self, sigma: float = 0.01, population: int = 16, k: int = 10, persistent: bool = True,
                 estimator_samples: int = 0, label: str | None = None):
        super().__init__(label or (self.name if persistent else "truncated_es"))
        if not sigma > 0:
            raise BioplausError(f"rule {self.name!r}: sigma must be positive, got {sigma!r}.")
        if isinstance(population, bool) or not isinstance(population, int) or population < 2 or population % 2:
            raise BioplausError(f"rule {self.name!r}: population must be an even integer >= 2 (mirrored pairs), got {population!r}.")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BioplausError(f"rule {self.name!r}: k (steps per truncation) must be a positive integer, got {k!r}.")
        self.sigma, self.population, self.k, self.persistent = float(sigma), population, k, bool(persistent)
        self.estimator_samples = int(estimator_samples)
        self.generator: torch.Generator | None = None
        self._noise_map = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator
        self._noise_map = projected_noise(model)

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        if not hasattr(batch.loss_fn, "per_step"):
            raise BioplausError(f"rule {self.name!r} needs a sequence loss with per-step terms (the sequence tasks' "
                                f"squared error); got {batch.loss_fn!r}.")
        if self.generator is None:
            self.generator = torch.Generator().manual_seed(0)
        params = {k: v.detach() for k, v in model.named_parameters()}
        if self._noise_map is None:
            self._noise_map = projected_noise(model)
        return es_through_time(params, batch, model.alpha, model.activation, self.k, self.sigma, self.population // 2,
                               self.generator, self.persistent, self._noise_map)

    def config(self) -> dict:
        return {**super().config(), "sigma": self.sigma, "population": self.population, "k": self.k,
                "persistent": self.persistent, "estimator_samples": self.estimator_samples}
