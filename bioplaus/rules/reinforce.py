"""REINFORCE with baselines for networks with stochastic binary units (Williams 1992; Weber, Heess, Buesing & Silver 2019).

On :class:`~bioplaus.rate.stochastic.StochasticBinaryNet` one hidden state ``h_b ~ Bernoulli(p_b)`` is
sampled per example and the estimate of ``d E[L] / d theta`` has two parts (Schulman et al. 2015,
stochastic computation graphs; Weber et al. 2019, Sec. 3):

- parameters downstream of the sample (the read-out ``W_2, b_2``): the pathwise gradient of the
  loss at the sample, ``d L(W_2 h_b + b_2, y_b) / d W_2``, averaged over the batch;
- parameters upstream (``W_1, b_1``): the score function, ``(L_b - c_b) d log p(h_b | x_b) / d theta``
  with ``d log p / d a_1 = h_b - p_b``, so ``dW_1 = mean_b (L_b - c_b) (h_b - p_b) x_b^T``.

The baseline ``c_b`` leaves the estimate unbiased whenever it does not depend on the sample
``h_b`` (nor on anything downstream of it), since ``E[d log p(h) / d theta] = 0``; it changes only
the variance. Baselines: ``"none"`` (``c = 0``); ``"moving_average"`` (a running mean of the batch
loss, ``c <- c + rate (L - c)`` after each update, started at the loss of the mean-field output);
``"critic"`` (a learned input-dependent baseline ``c(x) = v^T x + v_0``, regressed on the losses
it sees by SGD with step ``critic_lr`` after each update; Weber et al. 2019, Sec. 4, "critics").

With ``variance_draws = K > 1`` the rule also offers, at every step, ``K`` fresh estimates on the step's batch at
the current parameters (``probe_values()["estimate_draws"]``, drawn lazily, only when a recording step asks, from
a generator of their own split off the rule's stream at setup, so that measuring never changes the run's draws):
the ``estimate_log_variance`` and ``estimate_bias_z`` of :mod:`bioplaus.metrics.probes` over training.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.stochastic import per_example_loss
from bioplaus.rules.base import Rule

BASELINES = ("none", "moving_average", "critic")


def sampled_losses(model: nn.Module, batch: Batch, h: Tensor) -> tuple[Tensor, Tensor]:
    """Each example's loss ``(..., batch)`` at sampled hidden states ``h`` ``(..., batch, n_hidden)`` (independent
    draws as leading dimensions) and its derivative with respect to the example's output ``(..., batch, n_out)``."""
    n = batch.x.shape[0]
    with torch.enable_grad():
        out = model.readout(h).detach().requires_grad_(True)  # (..., batch, n_out)
        flat_out = out.reshape(-1, out.shape[-1])
        y = batch.y.repeat(flat_out.shape[0] // n, *([1] * (batch.y.dim() - 1)))
        losses = per_example_loss(batch.loss_fn, flat_out, y).reshape(out.shape[:-1])
        (d_out,) = torch.autograd.grad(losses.sum(), out)
    return losses.detach(), d_out


def stochastic_net_estimate(batch: Batch, h: Tensor, hidden_credit: Tensor, d_out: Tensor) -> dict[str, Tensor]:
    """Parameter estimates of a :class:`~bioplaus.rate.stochastic.StochasticBinaryNet` from the hidden units'
    credit ``dL/da_1`` ``(..., batch, n_hidden)`` (already divided by the batch size) and the read-out's pathwise
    ``dL_b/d output`` at the samples ``h`` (``d_out``, ``(..., batch, n_out)``), keyed like ``named_parameters()``."""
    n = batch.x.shape[0]
    return {"layers.hidden1.weight": torch.einsum("...bh,bi->...hi", hidden_credit, batch.x),
            "layers.hidden1.bias": hidden_credit.sum(-2),
            "layers.output.weight": torch.einsum("...bo,...bh->...oh", d_out, h) / n, "layers.output.bias": d_out.sum(-2) / n}


def score_function_estimate(model: nn.Module, batch: Batch, h: Tensor, p: Tensor, baseline: Tensor) -> tuple[dict[str, Tensor], Tensor]:
    """Estimates for sampled hidden states ``h`` ``(..., batch, n_hidden)`` with probabilities ``p``
    ``(batch, n_hidden)`` and baselines ``(..., batch)``: one estimate per leading index (independent draws
    are a batch dimension), keyed like ``named_parameters()`` with shapes ``(..., *param.shape)``, and the
    examples' losses ``(..., batch)``."""
    losses, d_out = sampled_losses(model, batch, h)
    delta = ((losses - baseline) / batch.x.shape[0]).unsqueeze(-1) * (h - p)  # the score-function dL/da_1
    return stochastic_net_estimate(batch, h, delta, d_out), losses


def check_variance_draws(rule: str, draws: object) -> int:
    """``variance_draws``: 0 (off) or an integer >= 2 (a variance needs two draws)."""
    if isinstance(draws, bool) or not isinstance(draws, int) or not (draws == 0 or draws >= 2):
        raise BioplausError(f"rule {rule!r}: variance_draws (fresh estimates per recording step) must be 0 (off) or an "
                            f"integer >= 2, got {draws!r}.")
    return draws


def split_generator(generator: torch.Generator) -> torch.Generator:
    """A generator of its own, seeded by one draw of ``generator`` (for measurements that must not move its stream)."""
    return torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))


class Reinforce(Rule):
    """REINFORCE (score function) for stochastic binary units, with no baseline, a moving average or a learned critic.

    Args: ``baseline``: one of ``BASELINES``; ``baseline_rate``: the moving average's rate in
    ``(0, 1]``; ``critic_lr``: the critic's SGD step; ``estimator_samples``: independent estimates
    drawn at step 0 for ``estimate_bias_angle`` and ``estimate_variance`` (stored with step = m)."""

    name = "reinforce"
    title = "REINFORCE"
    colour = "#b15928"
    requires = frozenset({"torch", "stochastic_units"})

    def __init__(self, baseline: str = "none", baseline_rate: float = 0.1, critic_lr: float = 0.05,
                 estimator_samples: int = 1024, variance_draws: int = 0, label: str | None = None):
        super().__init__(label or (self.name if baseline == "none" else f"{self.name} ({baseline.replace('_', ' ')})"))
        if baseline not in BASELINES:
            raise BioplausError(f"rule {self.name!r}: unknown baseline {baseline!r}; allowed values are {allowed(BASELINES)}.")
        if not 0 < baseline_rate <= 1:
            raise BioplausError(f"rule {self.name!r}: baseline_rate must be in (0, 1], got {baseline_rate!r}.")
        if not critic_lr > 0:
            raise BioplausError(f"rule {self.name!r}: critic_lr must be positive, got {critic_lr!r}.")
        self.baseline, self.baseline_rate, self.critic_lr = baseline, float(baseline_rate), float(critic_lr)
        self.estimator_samples = int(estimator_samples)
        self.variance_draws = check_variance_draws(self.name, variance_draws)
        self.generator: torch.Generator | None = None
        self.variance_generator: torch.Generator | None = None
        self._last: tuple[nn.Module, Batch] | None = None
        self.average: float | None = None
        self.critic: Tensor | None = None  # (n_in + 1,): v and v_0
        self._seen: tuple[Tensor, Tensor] | None = None  # the last estimate's inputs and losses, for after_step

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator
        self.variance_generator = split_generator(generator) if self.variance_draws else None
        self.average = None
        w1 = model.layers["hidden1"].weight
        self.critic = torch.zeros(w1.shape[1] + 1, dtype=w1.dtype, device=w1.device)

    def baseline_values(self, model: nn.Module, batch: Batch) -> Tensor:
        """``c_b`` ``(batch,)``: a function of the inputs and the past only, never of this step's samples."""
        x = batch.x
        if self.baseline == "critic":
            return x.mv(self.critic[:-1]) + self.critic[-1]
        if self.baseline == "moving_average":
            if self.average is None:
                self.average = float(batch.loss(model(x)))
            return torch.full((x.shape[0],), self.average, dtype=x.dtype, device=x.device)
        return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        estimate, losses = self.estimates(model, batch, None)
        self._seen = (batch.x, losses)
        self._last = (model, batch)
        return estimate

    def probe_values(self) -> dict:
        if not self.variance_draws or self._last is None:
            return {}
        model, batch = self._last
        return {"estimate_draws": lambda: self.estimates(model, batch, self.variance_draws, self.variance_generator)[0]}

    @torch.no_grad()
    def estimates(self, model: nn.Module, batch: Batch, draws: int | None,
                  generator: torch.Generator | None = None) -> tuple[dict[str, Tensor], Tensor]:
        """``draws`` independent estimates at once (shapes ``(draws, *param.shape)``; ``None``: one, unstacked) and
        their examples' losses; one batched pass, no loop over draws. ``generator``: default the rule's."""
        if self.generator is None or self.critic is None:  # a rule used outside a run
            self.setup(model, torch.Generator().manual_seed(0))
        h, p = model.sample(batch.x, generator or self.generator, draws)
        return score_function_estimate(model, batch, h, p, self.baseline_values(model, batch))

    def after_step(self, model: nn.Module, batch: Batch, estimate: dict[str, Tensor]) -> None:
        """The baseline learns from the losses of the estimate just applied."""
        if self._seen is None:
            return
        x, losses = self._seen
        if self.baseline == "moving_average":
            self.average += self.baseline_rate * (float(losses.mean()) - self.average)
        elif self.baseline == "critic":
            error = x.mv(self.critic[:-1]) + self.critic[-1] - losses  # d/dc of 1/2 (c(x) - L)^2, mean over the batch
            self.critic -= self.critic_lr * torch.cat([x.t().mv(error), error.sum().reshape(1)]) / x.shape[0]

    def config(self) -> dict:
        return {**super().config(), "baseline": self.baseline, "baseline_rate": self.baseline_rate,
                "critic_lr": self.critic_lr, "estimator_samples": self.estimator_samples,
                **({"variance_draws": self.variance_draws} if self.variance_draws else {})}
