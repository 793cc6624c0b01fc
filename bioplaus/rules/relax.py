"""RELAX and REBAR for stochastic binary units (Grathwohl, Choi, Wu, Roeder & Duvenaud, ICLR 2018, Eq. 8 and Alg. 2;
Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein 2017 for REBAR).

For Bernoulli units with logits ``a`` (``theta = sigmoid(a)``) draw ``u, v ~ U(0, 1)`` and set

    z = a + log u - log(1 - u)          (a logistic sample: b = H(z) ~ Bernoulli(theta))
    z~ = a + log v~ - log(1 - v~),      v~ = b (1 - theta + v theta) + (1 - b) v (1 - theta)

(``z~ ~ p(z | b)``, reparameterised through ``theta`` with ``b`` and ``v`` fixed; Grathwohl et al. 2018, App. B).
With a control variate ``c(z)`` the estimate of ``d E[f(b)] / d a`` is

    g = (f(b) - c(z~)) d log p(b | a) / d a + d c(z) / d a - d c(z~) / d a,     d log p(b) / d a = b - theta,

unbiased for any ``c`` that is a differentiable function of ``z`` (it does not see ``u`` or ``v`` otherwise).
RELAX learns ``c`` to minimise the estimator's variance: it follows ``d |g|^2 / d psi`` (the mean is
independent of ``psi``, so this is the variance's gradient; Grathwohl et al. 2018, Eq. 5). Here
``c_psi(z) = eta f(sigmoid(z / lambda)) + r_psi(z)``: the concrete relaxation of ``f`` at temperature
``lambda`` scaled by ``eta`` (REBAR when ``r = 0``, with ``eta`` and ``lambda`` learned) plus a small tanh
network ``r_psi`` (RELAX).

On :class:`~bioplaus.rate.stochastic.StochasticBinaryNet` the units' ``g`` (per example, ``(batch, n_hidden)``)
gives ``dW_1 = mean_b g_b x_b^T``; the read-out gets the pathwise gradient at the sample, as in
:mod:`bioplaus.rules.reinforce`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rate.stochastic import per_example_loss
from bioplaus.rules.base import Rule
from bioplaus.rules.reinforce import check_variance_draws, sampled_losses, split_generator, stochastic_net_estimate

CONTROLS = ("relax", "rebar")


def relaxed_samples(a: Tensor, u: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``z``, ``b = H(z)`` and ``z~ ~ p(z | b)`` for logits ``a`` and uniforms ``u, v`` (all the same shape);
    ``z`` and ``z~`` are differentiable in ``a``."""
    theta = torch.sigmoid(a)
    z = a + torch.log(u) - torch.log1p(-u)
    b = (z > 0).to(a.dtype)
    v_tilde = b * (1 - theta + v * theta) + (1 - b) * v * (1 - theta)
    return z, b, a + torch.log(v_tilde) - torch.log1p(-v_tilde)


class ControlVariate(nn.Module):
    """``c(z) = eta f(sigmoid(z / lambda)) + r_psi(z)`` per example: ``z`` ``(..., n)`` -> ``(...,)``.

    ``f_relaxed(s)`` is the loss at relaxed states ``s`` ``(..., n)``, per example. ``r_psi`` is a
    ``n -> width -> 1`` tanh network (absent for REBAR). Starts at REBAR's usual point ``eta = 1``,
    ``lambda = 0.5`` with ``r``'s read-out at zero.
    """

    def __init__(self, n: int, control: str, width: int, generator: torch.Generator):
        super().__init__()
        self.eta = nn.Parameter(torch.ones((), dtype=torch.float64))
        self.log_temperature = nn.Parameter(torch.tensor(0.5, dtype=torch.float64).log())
        self.net = None
        if control == "relax":
            self.net = nn.Sequential(nn.Linear(n, width), nn.Tanh(), nn.Linear(width, 1)).double()
            with torch.no_grad():
                self.net[0].weight.copy_(torch.randn((width, n), generator=generator, dtype=torch.float64) / n**0.5)
                self.net[0].bias.zero_()
                self.net[2].weight.zero_()
                self.net[2].bias.zero_()

    def forward(self, z: Tensor, f_relaxed: Callable[[Tensor], Tensor]) -> Tensor:
        c = self.eta * f_relaxed(torch.sigmoid(z / self.log_temperature.exp()))
        return c if self.net is None else c + self.net(z).squeeze(-1)


def relax_gradient(a: Tensor, u: Tensor, v: Tensor, f: Callable[[Tensor], Tensor], control: Callable[[Tensor], Tensor],
                   create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """The RELAX estimate of ``d E[f(b)] / d a`` for every unit, ``(..., batch, n)``, and ``f(b)`` ``(..., batch)``.

    ``a``: logits ``(..., batch, n)``, one per draw (a leaf is made of them here, so each draw gets its own
    derivative: do not let them broadcast against ``u``); ``u, v``: uniforms of the same shape;
    ``f(b)``: the per-example loss ``(..., batch)`` at hidden states ``b``; ``control(z)``: ``c(z)`` per example.
    ``create_graph`` keeps the estimate differentiable in the control's parameters (to train them).
    """
    a = a.detach().requires_grad_(True)
    with torch.enable_grad():
        z, b, z_tilde = relaxed_samples(a, u, v)
        fb = f(b).detach()
        c_z, c_zt = control(z), control(z_tilde)
        (d_c,) = torch.autograd.grad(c_z.sum() - c_zt.sum(), a, create_graph=create_graph)
    return (fb - c_zt).unsqueeze(-1) * (b - torch.sigmoid(a.detach())) + d_c, fb


class Relax(Rule):
    """RELAX (Grathwohl et al. 2018), or REBAR: a learned control variate for stochastic binary units, trained to cut variance.

    Args: ``control``: ``"relax"`` (concrete relaxation + a tanh network) or ``"rebar"`` (the
    relaxation only, with learned scale and temperature); ``control_lr``: Adam step of the
    control's parameters on ``|g|^2``; ``width``: hidden units of ``r_psi``; ``estimator_samples``:
    independent estimates at step 0 for ``estimate_bias_angle`` and ``estimate_variance``; ``variance_draws``:
    fresh estimates per recording step for ``estimate_log_variance`` and ``estimate_bias_z`` (0: off)."""

    name = "relax"
    title = "RELAX"
    colour = "#1b9e77"
    requires = frozenset({"torch", "stochastic_units"})

    def __init__(self, control: str = "relax", control_lr: float = 1e-3, width: int = 16, estimator_samples: int = 1024,
                 variance_draws: int = 0, label: str | None = None):
        super().__init__(label or (self.name if control == "relax" else "rebar"))
        if control not in CONTROLS:
            raise BioplausError(f"rule {self.name!r}: unknown control {control!r}; allowed values are {allowed(CONTROLS)}.")
        if not control_lr > 0:
            raise BioplausError(f"rule {self.name!r}: control_lr must be positive, got {control_lr!r}.")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise BioplausError(f"rule {self.name!r}: width (hidden units of the control network) must be a positive integer, "
                                f"got {width!r}.")
        self.control_kind, self.control_lr, self.width = control, float(control_lr), width
        self.estimator_samples = int(estimator_samples)
        self.variance_draws = check_variance_draws(self.name, variance_draws)
        self.generator: torch.Generator | None = None
        self.variance_generator: torch.Generator | None = None
        self._last: tuple[nn.Module, Batch] | None = None
        self.control: ControlVariate | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator
        w1 = model.layers["hidden1"].weight
        self.control = ControlVariate(w1.shape[0], self.control_kind, self.width, generator).to(w1.dtype).to(w1.device)
        self.optimizer = torch.optim.Adam(self.control.parameters(), lr=self.control_lr)
        self.variance_generator = split_generator(generator) if self.variance_draws else None

    def hidden_gradient(self, model: nn.Module, batch: Batch, draws: int | None, create_graph: bool = False,
                        generator: torch.Generator | None = None):
        """``g`` ``(..., batch, n_hidden)`` for ``draws`` independent draws (``None``: one), the states ``b``
        and the losses ``f(b)``; uniforms from ``generator`` (default: the rule's)."""
        if self.control is None:  # a rule used outside a run
            self.setup(model, torch.Generator().manual_seed(0))
        a = model.logits(batch.x).detach()
        shape = a.shape if draws is None else (draws, *a.shape)
        u, v = (torch.rand(shape, generator=generator or self.generator, dtype=a.dtype).clamp_(1e-12, 1 - 1e-12).to(a.device) for _ in range(2))
        y = batch.y
        def loss_at(h: Tensor) -> Tensor:  # per-example loss at (relaxed or binary) hidden states (..., batch, n)
            flat = model.readout(h).reshape(-1, model.spec.n_out)
            return per_example_loss(batch.loss_fn, flat, y.repeat(flat.shape[0] // y.shape[0], *([1] * (y.dim() - 1)))).reshape(h.shape[:-1])
        g, fb = relax_gradient(a.expand(shape), u, v, loss_at, lambda z: self.control(z, loss_at), create_graph)
        b = (a + torch.log(u) - torch.log1p(-u) > 0).to(a.dtype)
        return g, b, fb

    def estimates(self, model: nn.Module, batch: Batch, draws: int | None,
                  generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """``draws`` independent estimates (shapes ``(draws, *param.shape)``; ``None``: one), in one batched pass;
        ``generator``: default the rule's."""
        g, b, _ = self.hidden_gradient(model, batch, draws, generator=generator)
        _, d_out = sampled_losses(model, batch, b)
        return stochastic_net_estimate(batch, b, g.detach() / batch.x.shape[0], d_out)

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        self._last = (model, batch)
        return self.estimates(model, batch, None)

    def probe_values(self) -> dict:
        """``estimate_draws``: ``variance_draws`` fresh estimates at the current parameters and control, drawn when
        asked from a generator of their own (as in :class:`~bioplaus.rules.reinforce.Reinforce`)."""
        if not self.variance_draws or self._last is None:
            return {}
        model, batch = self._last
        return {"estimate_draws": lambda: {k: v.detach() for k, v in
                                           self.estimates(model, batch, self.variance_draws, self.variance_generator).items()}}

    def after_step(self, model: nn.Module, batch: Batch, estimate: dict[str, Tensor]) -> None:
        """One Adam step of the control variate on ``|g|^2`` of a fresh draw (Grathwohl et al. 2018, Alg. 2)."""
        g, _, _ = self.hidden_gradient(model, batch, None, create_graph=True)
        weight = torch.einsum("bh,bi->hi", g, batch.x) / batch.x.shape[0]
        variance = weight.square().sum() + (g.sum(0) / batch.x.shape[0]).square().sum()
        self.optimizer.zero_grad()
        variance.backward(inputs=list(self.control.parameters()))
        self.optimizer.step()

    def config(self) -> dict:
        return {**super().config(), "control": self.control_kind, "control_lr": self.control_lr, "width": self.width,
                "estimator_samples": self.estimator_samples, **({"variance_draws": self.variance_draws} if self.variance_draws else {})}
