"""``bioplaus bench estimators``: evolution strategies' population evaluation, batched against a loop over members.

The digits MLP (``models/mlp_digits.toml``: 64-256-256-10 tanh, d = 85,002 parameters), N = 256
members (128 mirrored pairs), inputs of batch 1 and batch 100, one torch thread. Variants:

- ``batched``: :meth:`EvolutionStrategies.estimate`, as runs use it (``noise="table"``): the noise read
  from the shared table at a random offset (the table itself is drawn once, at setup, untimed), the
  population as a batch dimension of the products over the layers, the weighted sum of noise;
- ``batched, fresh noise``: the same with ``noise="fresh"``: the 128 x 85,002 Gaussian numbers drawn
  for every estimate;
- ``loop``: the same noise and weighted sum, the members' forward passes one by one
  (``torch.func.functional_call`` per member): what a user writes without batching;
- ``forward only``: the N forward passes as one batched product with ready perturbed weights
  (no noise generated, no sum): the floor the issue compares ``batched`` with.

Throughput is samples x members per second. The variants alternate call by call
(:func:`bioplaus.bench.timing.alternating`, CPU time of the process), so a ratio compares
the same moments of a shared machine.
"""

from __future__ import annotations

import statistics

import torch
from torch.func import functional_call

from bioplaus import models
from bioplaus.bench.timing import alternating, machine, ratio_stats
from bioplaus.core import Batch
from bioplaus.rules.evolution_strategies import (
    EvolutionStrategies,
    antithetic_noise,
    layered_population_output,
)
from bioplaus.seeding import generator
from bioplaus.tasks.base import cross_entropy

POPULATION = 256


def _variants(batch_size: int) -> dict:
    model = models.build(models.load("mlp_digits"), generator(0, 0, "init"))
    g = generator(0, 0, "bench-estimators-data")
    batch = Batch(torch.randn((batch_size, 64), generator=g), torch.randint(0, 10, (batch_size,), generator=g), cross_entropy)
    rule = EvolutionStrategies(sigma=0.01, population=POPULATION)
    rule.setup(model, generator(0, 0, "rule:evolution_strategies"))
    fresh = EvolutionStrategies(sigma=0.01, population=POPULATION, noise="fresh")
    fresh.setup(model, generator(0, 0, "rule:evolution_strategies"))
    params = {k: v.detach() for k, v in model.named_parameters()}
    loop_generator = generator(0, 0, "bench-loop")
    pairs = POPULATION // 2

    @torch.no_grad()
    def loop(i: int) -> None:
        eps = antithetic_noise(params, pairs, loop_generator)
        losses = torch.empty(POPULATION)
        for m in range(POPULATION):
            sign, j = (1.0, m) if m < pairs else (-1.0, m - pairs)
            member = {k: p + sign * rule.sigma * eps[k][j] for k, p in params.items()}
            losses[m] = batch.loss(functional_call(model, member, (batch.x,)))
        weights = (losses[:pairs] - losses[pairs:]) / (2 * rule.sigma * pairs)
        {k: torch.tensordot(weights, e, dims=1) for k, e in eps.items()}

    ready = {k: torch.cat([p + rule.sigma * e, p - rule.sigma * e])
             for k, (p, e) in ((k, (params[k], v)) for k, v in antithetic_noise(params, pairs, loop_generator).items())}

    @torch.no_grad()
    def forward_only(i: int) -> None:
        torch.vmap(batch.loss_fn, in_dims=(0, None))(layered_population_output(model, ready, batch.x), batch.y)

    return {"batched": lambda i: rule.estimate(model, batch), "batched, fresh noise": lambda i: fresh.estimate(model, batch),
            "loop": loop, "forward only": forward_only}


def main(repeats: int = 5, steps: int = 4, threads: int = 1) -> int:
    torch.set_num_threads(threads)
    d = sum(p.numel() for p in models.build(models.load("mlp_digits")).parameters())
    print(f"{machine(threads)}; ES on mlp_digits (d = {d:,}), N = {POPULATION} members; {repeats} repetitions of {steps} "
          "estimates, the variants alternating call by call; CPU time of the process (time.process_time).\n")
    print("| batch | variant | samples x members / s (median) | time ratio to batched (median) | range |")
    print("|---:|---|---:|---:|---:|")
    for batch_size in (1, 100):
        times = alternating(_variants(batch_size), repeats, steps, warmup=1)
        for label, t in times.items():
            rate = statistics.median(steps * batch_size * POPULATION / s for s in t)
            if label == "batched":
                print(f"| {batch_size} | {label} | {rate:,.0f} | 1 | |")
                continue
            med, lo, hi = ratio_stats(t, times["batched"])
            print(f"| {batch_size} | {label} | {rate:,.0f} | {med:.2f} | {lo:.2f}–{hi:.2f} |")
    return 0
