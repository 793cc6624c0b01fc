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

Noise (``noise``): ``"fresh"`` draws the ``N/2 x d`` Gaussian numbers of every estimate from the rule's
generator; ``"table"`` (the default) reads them from a **shared noise table**, as Salimans et al. 2017 (Sec. 2.1)
did to avoid generating and sending noise: at setup the rule draws a table of ``L`` standard normal numbers from
its own generator (``L = max(table_size, 2 N/2 d)``), and each estimate reads its pairs' ``eps_1 .. eps_{N/2}``
as consecutive slices of one window of ``N/2 x d`` numbers starting at a uniformly random offset (drawn from the
same generator: reproducible from the seed). Each ``eps_i`` is still a vector of independent standard normals
(over the table's draw), the pairs of one estimate do not overlap, and the estimate keeps the antithetic form
above; what changes is that all estimates of a run share one table, so the numbers repeat, shifted, across
estimates: averaging ever more estimates converges to ``g`` plus a table-dependent error of relative size about
``sqrt(d / L)`` (``E_window[eps eps^T] = I + O(1 / sqrt(L))`` off the diagonal) instead of to ``g``. It is 0.02
for ``d = 1,210`` at the default ``L = 2^22``, far below one estimate's spread ``sqrt(2 (d + 1) / N)``.
The window is read in place (views of the table, no copy), which saves the noise generation (75 ms of an
estimate on the 85,002-parameter digits MLP at ``N = 256``, ``bioplaus bench estimators``).

The whole population runs as one batched forward pass (members are a batch dimension of the
products over the layers of a layered network, :func:`mirrored_population_output`, which never
forms the members' weights), never a loop over members.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.feedforward import activate
from bioplaus.rules.base import Rule

#: from this many samples per batch on, hidden layers form the members' weights ``W +- sigma eps`` (one product per
#: member) instead of adding ``+- sigma h eps^T`` to a shared ``h W^T`` (two products, no weights formed); measured
#: with ``bioplaus bench estimators`` (BENCHMARKS.md)
MATERIALISE_FROM_BATCH = 8

#: members' weights are formed this many bytes at a time (a few pairs), so that the product reads them from cache:
#: 53 ms against 90 ms for forming all 256 members' 256 x 256 weights at once, batch 100 (BENCHMARKS.md, estimators)
CHUNK_BYTES = 2**21

#: what a member of the population is scored by
FITNESS = ("loss", "error_rate")

#: where the perturbations come from
NOISE = ("table", "fresh")

#: the shared noise table's least length (numbers); at least two estimates' worth of noise is always used
TABLE_SIZE = 2**22


def antithetic_noise(params: dict[str, Tensor], pairs: int, generator: torch.Generator) -> dict[str, Tensor]:
    """Standard normal ``eps_i``, ``(pairs, *shape)`` per parameter, in the parameter's dtype and device."""
    return {k: torch.randn((pairs, *p.shape), generator=generator, dtype=p.dtype).to(p.device) for k, p in params.items()}


def noise_table(params: dict[str, Tensor], pairs: int, generator: torch.Generator, table_size: int = TABLE_SIZE) -> Tensor:
    """A table of ``max(table_size, 2 pairs d)`` standard normal numbers in the parameters' dtype and device, drawn from
    ``generator`` (``d``: the parameters' total size)."""
    p = next(iter(params.values()))
    d = sum(v.numel() for v in params.values())
    return torch.randn(max(int(table_size), 2 * pairs * d), generator=generator, dtype=p.dtype).to(p.device)


def table_window(table: Tensor, params: dict[str, Tensor], pairs: int, generator: torch.Generator) -> tuple[Tensor, dict[str, Tensor]]:
    """One estimate's noise from ``table``: a window ``(pairs, d)`` at a uniformly random offset (a view, no copy) and
    its per-parameter views ``{name: (pairs, *shape)}`` (the parameters in order, each a slice of every row)."""
    d = sum(v.numel() for v in params.values())
    start = int(torch.randint(0, table.numel() - pairs * d + 1, (1,), generator=generator))
    window = table[start : start + pairs * d].view(pairs, d)
    eps, offset = {}, 0
    for k, p in params.items():
        eps[k] = window[:, offset : offset + p.numel()].view(pairs, *p.shape)
        offset += p.numel()
    return window, eps


def centred_ranks(fitness: Tensor) -> Tensor:
    """Centred ranks of ``fitness`` ``(N,)``: the smallest gets ``-1/2``, the largest ``+1/2``, equal steps between
    (Salimans et al. 2017, Sec. 2.1); ties are broken by position. ``N >= 2``."""
    n = fitness.shape[0]
    ranks = torch.empty_like(fitness)
    ranks[fitness.argsort()] = torch.arange(n, dtype=fitness.dtype, device=fitness.device)
    return ranks / (n - 1) - 0.5


def combine_pairs(eps: dict[str, Tensor], f_plus: Tensor, f_minus: Tensor, sigma: float,
                  fitness_shaping: bool = False) -> dict[str, Tensor]:
    """``sum_i (F_i^+ - F_i^-) eps_i / (2 sigma pairs)`` from the noise ``{name: (pairs, *shape)}`` and the pairs'
    fitnesses ``(pairs,)`` each: the losses, or their centred ranks over all ``2 pairs`` members when ``fitness_shaping``."""
    pairs = f_plus.shape[0]
    if fitness_shaping:
        ranks = centred_ranks(torch.cat([f_plus, f_minus]))
        f_plus, f_minus = ranks[:pairs], ranks[pairs:]
    weights = (f_plus - f_minus) / (2 * sigma * pairs)
    return {k: torch.tensordot(weights.to(e.dtype), e, dims=1) for k, e in eps.items()}


def antithetic_estimate(population_loss: Callable[[dict[str, Tensor]], Tensor], params: dict[str, Tensor], sigma: float,
                        pairs: int, generator: torch.Generator, fitness_shaping: bool = False) -> dict[str, Tensor]:
    """One ES estimate from ``pairs`` mirrored pairs (``N = 2 pairs`` members), keyed like ``params``, for any loss.

    ``population_loss`` maps stacked parameters ``{name: (N, *shape)}`` to the members' losses ``(N,)``;
    members ``0 .. pairs-1`` are ``theta + sigma eps_i``, members ``pairs .. N-1`` are ``theta - sigma eps_i``.
    """
    eps = antithetic_noise(params, pairs, generator)
    members = {k: torch.cat([p + sigma * eps[k], p - sigma * eps[k]]) for k, p in params.items()}
    fitness = population_loss(members)
    return combine_pairs(eps, fitness[:pairs], fitness[pairs:], sigma, fitness_shaping)


def mirrored_population_output(model: nn.Module, params: dict[str, Tensor], eps: dict[str, Tensor], sigma: float,
                               x: Tensor) -> Tensor:
    """Outputs ``(pairs, 2, batch, n_out)`` of a layered network's mirrored members ``theta +- sigma eps_i`` (index 0: +,
    1: -) on inputs ``x`` ``(batch, n_in)``, without forming the members' weights: each layer computes
    ``h W^T + b`` for all members in one product and adds ``+- sigma (h eps_W^T + eps_b)`` in one batched product
    over the pairs (the first layer's input is shared, so its noise product is formed once per pair); from
    :data:`MATERIALISE_FROM_BATCH` samples on, hidden layers form the members' weights and take one batched product."""
    sign = torch.tensor([1.0, -1.0], dtype=x.dtype, device=x.device).view(1, 2, 1, 1)
    h = None
    for name, act in zip(model.layer_names, model.activations):
        w, bias = params[f"layers.{name}.weight"], params.get(f"layers.{name}.bias")
        e_w, e_b = eps[f"layers.{name}.weight"], eps.get(f"layers.{name}.bias")
        if h is None:
            base = x @ w.t() if bias is None else torch.addmm(bias, x, w.t())  # (batch, n_out), shared by all members
            noise = torch.matmul(x, e_w.transpose(1, 2))  # (pairs, batch, n_out)
            a = base + sign * (noise if e_b is None else noise + e_b.unsqueeze(1)).unsqueeze(1) * sigma
        elif h.shape[2] < MATERIALISE_FROM_BATCH:  # few samples: (W +- sigma eps) is never formed
            pairs, _, batch, n_in = h.shape
            base = h @ w.t() if bias is None else h @ w.t() + bias
            noise = torch.bmm(h.reshape(pairs, 2 * batch, n_in), e_w.transpose(1, 2)).view(pairs, 2, batch, -1)
            a = base + sign * sigma * (noise if e_b is None else noise + e_b.view(pairs, 1, 1, -1))
        else:  # many samples: forming the members' weights costs less than a second product per layer
            pairs, _, batch, n_in = h.shape
            # formed in place, a few pairs at a time so that they stay in cache while their product reads them
            chunk = max(1, CHUNK_BYTES // (2 * w.numel() * w.element_size()))
            members = torch.empty((min(chunk, pairs), 2, *w.shape), dtype=w.dtype, device=w.device)
            a = torch.empty((pairs, 2, batch, w.shape[0]), dtype=h.dtype, device=h.device)
            for start in range(0, pairs, chunk):
                k = min(chunk, pairs - start)
                m = members[:k]
                torch.add(w, e_w[start : start + k], alpha=sigma, out=m[:, 0])
                torch.sub(w, e_w[start : start + k], alpha=sigma, out=m[:, 1])
                torch.bmm(h[start : start + k].reshape(2 * k, batch, n_in), m.view(2 * k, *w.shape).transpose(1, 2),
                          out=a[start : start + k].view(2 * k, batch, -1))
            if bias is not None:
                a = a + (bias + sign.view(1, 2, 1) * sigma * e_b.unsqueeze(1)).unsqueeze(2)
        h = activate(act, a)
    return h


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
    batch); ``noise``: ``"table"`` (a shared noise table, read at random offsets) or ``"fresh"`` (new
    Gaussian numbers for every estimate); ``table_size``: the table's least length; ``estimator_samples``: independent estimates drawn at step 0 for
    ``estimate_bias_angle`` and ``estimate_variance`` (stored with step = m)."""

    name = "evolution_strategies"
    title = "evolution strategies"
    colour = "#008080"
    requires = frozenset({"torch", "layered"})

    def __init__(self, sigma: float = 0.01, population: int = 64, fitness_shaping: bool = False, fitness: str = "loss",
                 estimator_samples: int = 256, noise: str = "table", table_size: int = TABLE_SIZE, label: str | None = None):
        super().__init__(label)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
            raise BioplausError(f"rule {self.name!r}: sigma (the perturbations' standard deviation) must be a positive number, "
                                f"got {sigma!r}.")
        if isinstance(population, bool) or not isinstance(population, int) or population < 2 or population % 2:
            raise BioplausError(f"rule {self.name!r}: population must be an even integer >= 2 (members come in mirrored pairs "
                                f"theta +- sigma eps), got {population!r}.")
        if fitness not in FITNESS:
            raise BioplausError(f"rule {self.name!r}: unknown fitness {fitness!r}; allowed values are {allowed(FITNESS)}.")
        if noise not in NOISE:
            raise BioplausError(f"rule {self.name!r}: unknown noise {noise!r}; allowed values are {allowed(NOISE)}.")
        if isinstance(table_size, bool) or not isinstance(table_size, int) or table_size < 1:
            raise BioplausError(f"rule {self.name!r}: table_size (the shared noise table's least length) must be a positive "
                                f"integer, got {table_size!r}.")
        self.sigma, self.population, self.fitness_shaping = float(sigma), population, bool(fitness_shaping)
        self.fitness, self.estimator_samples = fitness, int(estimator_samples)
        self.noise, self.table_size = noise, table_size
        self.generator: torch.Generator | None = None
        self.table: Tensor | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator
        self.table = None
        if self.noise == "table":
            params = {k: v.detach() for k, v in model.named_parameters()}
            self.table = noise_table(params, self.population // 2, generator, self.table_size)

    def fitness_of(self, out: Tensor, batch: Batch) -> Tensor:
        """Each member's loss (or error rate) on ``batch`` from the outputs ``(..., batch, n_out)``: ``(...)``."""
        if self.fitness == "error_rate":
            return (out.argmax(-1) != batch.y).to(out.dtype).mean(-1)
        flat = out.reshape(-1, *out.shape[-2:])
        return torch.vmap(batch.loss_fn, in_dims=(0, None))(flat, batch.y).reshape(out.shape[:-2])

    @torch.no_grad()
    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        if self.generator is None:  # a rule used outside a run draws from a fixed stream
            self.setup(model, torch.Generator().manual_seed(0))
        params = {k: v.detach() for k, v in model.named_parameters()}
        pairs = self.population // 2
        if self.table is None:
            eps = antithetic_noise(params, pairs, self.generator)
        else:
            window, eps = table_window(self.table, params, pairs, self.generator)
        fitness = self.fitness_of(mirrored_population_output(model, params, eps, self.sigma, batch.x), batch)  # (pairs, 2)
        if self.table is None:
            return combine_pairs(eps, fitness[:, 0], fitness[:, 1], self.sigma, self.fitness_shaping)
        flat = combine_pairs({"all": window}, fitness[:, 0], fitness[:, 1], self.sigma, self.fitness_shaping)["all"]
        out, offset = {}, 0  # one product over the window, then split
        for k, p in params.items():
            out[k] = flat[offset : offset + p.numel()].view(p.shape)
            offset += p.numel()
        return out

    def config(self) -> dict:
        return {**super().config(), "sigma": self.sigma, "population": self.population,
                "fitness_shaping": self.fitness_shaping, "fitness": self.fitness, "estimator_samples": self.estimator_samples,
                **({"noise": "table", "table_size": self.table_size} if self.noise == "table" else {})}  # fresh: as before
