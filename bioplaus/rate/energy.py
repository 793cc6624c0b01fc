"""Layered energy-based (continuous Hopfield) networks, relaxed to a fixed point.

The input ``x`` is clamped; the states ``s_1 .. s_L`` (the last is the output) relax.
With firing rates ``r_k`` (``r_0 = x``) the layers are coupled through the primitive
function

    Phi(x, s) = sum_k r_k . (W_k r_{k-1} + b_k)                       (Laborieux et al. 2021)

and each unit feels the drive ``u_k = dPhi/dr_k = W_k r_{k-1} + b_k + W_{k+1}^T r_{k+1}``.
Two formulations share it:

- ``energy`` (Scellier & Bengio 2017): ``r = rho(s)`` and
  ``E(s) = 1/2 sum_k |s_k|^2 - Phi(x, s)``; the relaxation is the gradient flow
  ``s <- s - eps dE/ds = s - eps (s - rho'(s) u)`` (Euler step ``eps``), which is also the
  discrete-time dynamics ``s_{t+1} = dPhi_eps/ds`` of Ernoult et al. 2019 with
  ``Phi_eps = 1/2 |s|^2 - eps E``. With ``hard_sigmoid`` the state is clipped to ``[0, 1]``
  after each step, as Scellier & Bengio did.
- ``primitive`` (Ernoult et al. 2019 / Laborieux et al. 2021): ``r = s`` and
  ``s <- rho(u)``, synchronously. Its fixed points are the stationary points of
  ``G(s) = sum int rho^{-1} - Phi(x, s)`` (``int logit = s ln s + (1-s) ln(1-s)`` for the
  logistic sigmoid, ``s^2/2`` for the hard sigmoid on ``[0, 1]``), so EP applies unchanged.

Nudging adds ``beta * l(s_L, y)`` to the energy (``l``: the per-sample cost, the batch
loss times the batch size); clamping fixes ``s_L``. The model's output is the output
state ``s_L`` at the free fixed point, returned through :class:`_FreeEquilibrium`, whose
backward is the implicit-differentiation gradient (recurrent backprop, Almeida 1987 /
Pineda 1987): ``dL/dtheta = -lambda^T dF/dtheta`` with ``J^T lambda = dL/ds``, ``F`` the
fixed-point residual and ``J = dF/ds`` at the fixed point. So ``rules.Backprop`` and every
alignment metric apply to this model unchanged.

The maths is in small pure functions on lists of per-layer state tensors ``(batch, n_k)``;
:class:`EnergyNet` holds the parameters and calls them.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple

import torch
from torch import Tensor, nn

from bioplaus.core import TorchModel
from bioplaus.errors import BioplausError
from bioplaus.model_kind import ModelKind
from bioplaus.rate.energy_spec import EnergySpec, energy_spec_from_dict
from bioplaus.rate.feedforward import FeedforwardNet

State = list[Tensor]
Force = Callable[[Tensor], Tensor]


class Dynamics(NamedTuple):
    """How the state moves: ``formulation`` (``energy``/``primitive``), ``activation``, Euler ``step_size``,
    ``schedule`` (``synchronous``/``alternating``)."""

    formulation: str
    activation: str
    step_size: float
    schedule: str = "synchronous"


class Couplings(NamedTuple):
    """``W[k]`` ``(n_k, n_{k-1})`` connects layer ``k-1`` (``-1``: the input) to state layer ``k``; ``b[k]`` ``(n_k,)`` or None.

    ``WT`` optionally holds contiguous copies of the transposes (see :func:`with_transposes`).
    """

    W: tuple[Tensor, ...]
    b: tuple[Tensor | None, ...]
    WT: tuple[Tensor, ...] | None = None


def with_transposes(c: Couplings) -> Couplings:
    """``c`` with contiguous ``W^T`` stored: a relaxation reuses them every step (3x faster
    products than strided ``W.t()`` when a layer is narrow). Not for autograd paths."""
    # W_1 only ever multiplies the clamped input, once per relaxation (input_drive): no copy of it
    return c if c.WT is not None else c._replace(WT=(c.W[0].t(),) + tuple(w.t().contiguous() for w in c.W[1:]))


class Relaxation(NamedTuple):
    """A relaxed state, the number of steps it took and whether ``max |s_{t+1} - s_t| <= tolerance``."""

    state: State
    steps: int
    converged: bool
    change: float


# -- the pure functions -----------------------------------------------------------------


def rho(activation: str, s: Tensor) -> Tensor:
    """The rate function: logistic ``sigmoid`` or ``hard_sigmoid`` ``clip(s, 0, 1)`` (Scellier & Bengio 2017)."""
    return torch.sigmoid(s) if activation == "sigmoid" else s.clamp(0.0, 1.0)


def rho_slope(activation: str, s: Tensor) -> Tensor:
    """``rho'(s)``."""
    if activation == "sigmoid":
        r = torch.sigmoid(s)
        return r * (1.0 - r)
    # 1 on the closed interval: with clipping, a unit pinned at 0 or 1 by its drive stays there
    return ((s >= 0) & (s <= 1)).to(s.dtype)


def firing_rates(state: State, dyn: Dynamics) -> State:
    """``r_k = rho(s_k)`` (``energy``) or ``s_k`` itself (``primitive``, where states are rates)."""
    if dyn.formulation == "energy":
        return [rho(dyn.activation, s) for s in state]
    return list(state)


def input_drive(x: Tensor, c: Couplings) -> Tensor:
    """``W_1 x + b_1``, ``(batch, n_1)``: constant during a relaxation, so computed once."""
    return torch.addmm(c.b[0], x, c.W[0].t()) if c.b[0] is not None else x.mm(c.W[0].t())


def drives(rates: State, drive0: Tensor, c: Couplings, layers=None, out: State | None = None) -> list[Tensor | None]:
    """``u_k = dPhi/dr_k = W_k r_{k-1} + b_k + W_{k+1}^T r_{k+1}`` for the state layers in ``layers`` (default all).

    With ``out`` (buffers shaped like the state) the drives are written there; otherwise new
    tensors are returned and ``drive0`` may be returned itself (never modify the result then).
    """
    last = len(rates) - 1
    result: list[Tensor | None] = [None] * (last + 1)
    for k in range(last + 1) if layers is None else layers:
        o = None if out is None else out[k]
        if k == 0:
            if k < last:
                result[k] = torch.addmm(drive0, rates[1], c.W[1], out=o)
            else:
                result[k] = drive0 if o is None else o.copy_(drive0)
            continue
        wt = c.WT[k] if c.WT is not None else c.W[k].t()
        u = torch.addmm(c.b[k], rates[k - 1], wt, out=o) if c.b[k] is not None else torch.mm(rates[k - 1], wt, out=o)
        if k < last:
            u = u.addmm_(rates[k + 1], c.W[k + 1]) if o is not None else torch.addmm(u, rates[k + 1], c.W[k + 1])
        result[k] = u
    return result


def update_layer(k: int, s: Tensor, u: Tensor, last: bool, dyn: Dynamics,
                 force: Force | None = None, clamp: Tensor | None = None, out: Tensor | None = None) -> Tensor:
    """The new state of layer ``k`` from its state ``s`` and drive ``u``.

    With ``out``, the result is written there and ``u`` (then a scratch buffer) is overwritten.
    """
    if last and clamp is not None:
        return clamp
    if out is None:
        if dyn.formulation == "energy":
            grad = s - rho_slope(dyn.activation, s) * u  # dE/ds_k
            if last and force is not None:
                grad = grad - force(s)
            s_new = s - dyn.step_size * grad
            return s_new.clamp(0.0, 1.0) if dyn.activation == "hard_sigmoid" else s_new
        if last and force is not None:
            u = u + force(s)
        return rho(dyn.activation, u)
    if dyn.formulation == "energy":  # s + eps (rho'(s) u + force - s), in the buffers
        u.mul_(rho_slope(dyn.activation, s))
        if last and force is not None:
            u.add_(force(s))
        torch.lerp(s, u, dyn.step_size, out=out)
        return out.clamp_(0.0, 1.0) if dyn.activation == "hard_sigmoid" else out
    if last and force is not None:
        u.add_(force(s))
    return torch.sigmoid(u, out=out) if dyn.activation == "sigmoid" else torch.clamp(u, 0.0, 1.0, out=out)


def relax_step(state: State, drive0: Tensor, c: Couplings, dyn: Dynamics,
               force: Force | None = None, clamp: Tensor | None = None,
               out: State | None = None, scratch: State | None = None) -> State:
    """One step of every layer from ``state``; returns the new state.

    ``synchronous``: every layer from the old state. ``alternating``: first the layers
    ``hidden1, hidden3, ...``, then the others from their already updated neighbours (block
    coordinate descent on the energy: layers of one parity do not interact). ``force(s_L)``
    is the nudging force ``-beta dl/ds_L`` on the output, evaluated at the current state;
    ``clamp`` fixes the output state instead. With ``out`` and ``scratch`` (buffers shaped
    like the state, distinct from it) the step allocates nothing and writes into ``out``.
    """
    last = len(state) - 1
    groups = [range(last + 1)] if dyn.schedule == "synchronous" else [range(0, last + 1, 2), range(1, last + 1, 2)]
    for layers in groups:
        u = drives(firing_rates(state, dyn), drive0, c, layers, scratch)
        new = list(state)
        for k in layers:
            new[k] = update_layer(k, state[k], u[k], k == last, dyn, force, clamp, None if out is None else out[k])
        state = new
    return state


def relax(state: State, drive0: Tensor, c: Couplings, dyn: Dynamics, tolerance: float, max_steps: int,
          force: Force | None = None, clamp: Tensor | None = None) -> Relaxation:
    """Iterate :func:`relax_step` until ``max |s_{t+1} - s_t| <= tolerance`` or ``max_steps``.

    ``tolerance <= 0`` runs exactly ``max_steps`` steps without testing (benchmarks). Without
    autograd the steps run in place, in two alternating sets of buffers (``state`` itself is
    never written); with autograd (BPTT) each step makes new tensors.
    """
    in_place = not torch.is_grad_enabled()
    if in_place:
        c = with_transposes(c)
        buffers = ([torch.empty_like(s) for s in state], [torch.empty_like(s) for s in state])
        scratch = [torch.empty_like(s) for s in state]
    change = float("inf")
    with one_thread():
        for t in range(1, max_steps + 1):
            out = buffers[t % 2] if in_place else None
            new = relax_step(state, drive0, c, dyn, force, clamp, out, scratch if in_place else None)
            if tolerance > 0:
                change = max(float((a - b).detach().abs().max()) for a, b in zip(new, state))
            state = new
            if tolerance > 0 and change <= tolerance:
                return Relaxation(state, t, True, change)
    return Relaxation(state, max_steps, False, change)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one torch thread, then restore the count.

    A relaxation step is a few small products (e.g. ``(50, 512) x (512, 10)``) and
    element-wise ops: too small to gain from a second thread, while every parallel region
    costs a fork and a barrier, and on a shared machine a barrier waits for a descheduled
    thread (measured on the 2 loaded cores: 80-1,100 samples/s with 2 threads against
    700-1,700 with the relaxation on one; BENCHMARKS.md, ep). The large products (input
    projection, weight update) keep every thread. It also makes relaxed states independent
    of the thread count.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def energy(state: State, x: Tensor, c: Couplings, dyn: Dynamics) -> Tensor:
    """The energy of each sample, ``(batch,)``: ``E`` (``energy``) or ``G`` (``primitive``), see the module doc."""
    rates = firing_rates(state, dyn)
    below = [x] + rates[:-1]
    coupling = sum((r * (p.mm(w.t()) + (b if b is not None else 0.0))).sum(1) for r, p, w, b in zip(rates, below, c.W, c.b))
    if dyn.formulation == "energy" or dyn.activation == "hard_sigmoid":
        self_term = sum(0.5 * s.square().sum(1) for s in state)
    else:
        self_term = sum((torch.xlogy(s, s) + torch.xlogy(1 - s, 1 - s)).sum(1) for s in state)
    return self_term - coupling


def fixed_point_residual(state: State, drive0: Tensor, c: Couplings, dyn: Dynamics) -> State:
    """``F(s)``, zero at a free fixed point: ``s - rho'(s) u`` (``= dE/ds``) or ``s - rho(u)``.

    With the hard sigmoid the clipped gradient flow stops where ``s = clip(u, 0, 1)``, so both
    formulations use ``s - rho(u)`` (its Jacobian has zero rows' couplings at saturated units).
    """
    u = drives(firing_rates(state, dyn), drive0, c)
    if dyn.formulation == "energy" and dyn.activation == "sigmoid":
        return [s - rho_slope(dyn.activation, s) * uk for s, uk in zip(state, u)]
    return [s - rho(dyn.activation, uk) for s, uk in zip(state, u)]


def energy_parameter_gradient(state: State, x: Tensor, dyn: Dynamics, bias: bool) -> list[tuple[Tensor, Tensor | None]]:
    """``dE/dW_k = -r_k^T r_{k-1}`` and ``dE/db_k = -r_k``, averaged over the batch (gradient units).

    The same in both formulations: only ``-Phi`` depends on the parameters.
    """
    rates = firing_rates(state, dyn)
    below = [x] + rates[:-1]
    n = x.shape[0]
    return [(-(r.t().mm(p)) / n, -r.mean(0) if bias else None) for r, p in zip(rates, below)]


def energy_gradient_difference(state_a: State, state_b: State, x: Tensor, dyn: Dynamics, bias: bool,
                               scale: float) -> list[tuple[Tensor, Tensor | None]]:
    """``(dE/dtheta(state_a) - dE/dtheta(state_b)) / scale``, batch mean: the contrast of every EP-family rule.

    The first layer's input ``x`` is shared, so its weight term is one product
    ``-(r_a - r_b)^T x``; above it, ``-(r_a^T p_a - r_b^T p_b)`` with ``p`` the rates below.
    """
    ra, rb = firing_rates(state_a, dyn), firing_rates(state_b, dyn)
    n = x.shape[0]
    out = []
    for k, (a, b) in enumerate(zip(ra, rb)):
        if k == 0:
            dw = (b - a).t().mm(x)
        else:
            dw = b.t().mm(rb[k - 1])
            dw.sub_(a.t().mm(ra[k - 1]))
        dw.mul_(1.0 / (n * scale))
        out.append((dw, (b - a).mean(0).mul_(1.0 / scale) if bias else None))
    return out


def coupling_matrix(c: Couplings, sizes: list[int]) -> Tensor:
    """The symmetric ``(n, n)`` matrix ``A`` of the state-to-state couplings, ``u = A r + W_1 x + b``.

    Block ``(k, k-1)`` is ``W_k`` and block ``(k-1, k)`` is ``W_k^T`` (``n = sum(sizes)``).
    """
    n = sum(sizes)
    w0 = c.W[0]
    a = torch.zeros(n, n, dtype=w0.dtype, device=w0.device)
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    for k in range(1, len(sizes)):
        rows = slice(starts[k], starts[k] + sizes[k])
        cols = slice(starts[k - 1], starts[k - 1] + sizes[k - 1])
        a[rows, cols] = c.W[k]
        a[cols, rows] = c.W[k].t()
    return a


def residual_jacobian(state: State, drive0: Tensor, c: Couplings, dyn: Dynamics) -> Tensor:
    """``J_b = dF/ds`` of :func:`fixed_point_residual` per sample, ``(batch, n, n)``, in closed form.

    With ``A`` the coupling matrix and ``u = A r + ...``:
    ``energy``/``sigmoid`` (``F = s - rho'(s) u``): ``J = I - diag(rho''(s) u) - diag(rho'(s)) A diag(rho'(s))``;
    otherwise (``F = s - rho(u)``): ``J = I - diag(rho'(u)) A diag(dr/ds)`` with ``dr/ds = rho'(s)``
    (energy) or 1 (primitive).
    """
    sizes = [s.shape[1] for s in state]
    z = torch.cat(state, 1)
    u = torch.cat(drives(firing_rates(state, dyn), drive0, c), 1)
    a = coupling_matrix(c, sizes)
    if dyn.formulation == "energy" and dyn.activation == "sigmoid":
        sig = torch.sigmoid(z)
        slope = sig * (1 - sig)
        left, right, diag = slope, slope, slope * (1 - 2 * sig) * u
    else:
        left = rho_slope(dyn.activation, u)
        right = rho_slope(dyn.activation, z) if dyn.formulation == "energy" else torch.ones_like(z)
        diag = torch.zeros_like(z)
    jac = -(left.unsqueeze(2) * a.unsqueeze(0) * right.unsqueeze(1))
    jac.diagonal(dim1=1, dim2=2).add_(1.0 - diag)
    return jac


def implicit_gradient(state: State, x: Tensor, c: Couplings, dyn: Dynamics, grad_output: Tensor) -> Couplings:
    """dL/dtheta at the free fixed point ``state`` by implicit differentiation.

    ``grad_output`` is dL/ds_L ``(batch, n_L)``. With ``F`` the fixed-point residual and
    ``J_b = dF/ds`` per sample ``(n, n)`` (``n`` = all state units), solves
    ``J_b^T lambda_b = dL/ds_b`` and returns ``-lambda^T dF/dtheta`` (Almeida 1987, Pineda 1987).
    """
    with torch.enable_grad():
        W = [w.detach().requires_grad_(True) for w in c.W]
        b = [None if v is None else v.detach().requires_grad_(True) for v in c.b]
        cc = Couplings(tuple(W), tuple(b))
        sizes = [s.shape[1] for s in state]
        z = torch.cat([s.detach() for s in state], 1)
        drive0 = input_drive(x.detach(), cc)
        F = torch.cat(fixed_point_residual(list(z.split(sizes, 1)), drive0, cc, dyn), 1)
        n = z.shape[1]
        with torch.no_grad():
            jac = residual_jacobian([s.detach() for s in state], drive0, c, dyn)  # jac[b, j, k] = dF_j / ds_k
        g = torch.zeros_like(z)
        g[:, n - sizes[-1]:] = grad_output
        lam = torch.linalg.solve(jac.transpose(1, 2), g.unsqueeze(-1)).squeeze(-1)
        params = W + [v for v in b if v is not None]
        grads = iter(torch.autograd.grad(F, params, grad_outputs=-lam))
        gW = tuple(next(grads) for _ in W)
        gb = tuple(None if v is None else next(grads) for v in b)
    return Couplings(gW, gb)


def unrolled_output(x: Tensor, c: Couplings, dyn: Dynamics, steps: int, start: State) -> Tensor:
    """The output state after ``steps`` relaxation steps from ``start``, kept in the autograd graph (BPTT)."""
    state = start
    drive0 = input_drive(x, c)
    for _ in range(steps):
        state = relax_step(state, drive0, c, dyn)
    return state[-1]


# -- the module -------------------------------------------------------------------------


class EnergyNet(TorchModel):
    """An energy-based network built from an :class:`EnergySpec`.

    Parameters are ``layers.<layer>.weight`` ``(n_k, n_{k-1})`` (``W_k``) and
    ``layers.<layer>.bias`` (``b_k``). ``forward(x)`` returns the output state at the free
    fixed point, differentiable by implicit differentiation. The last free relaxation of a
    batch is cached until the parameters change; ``relaxation_log`` holds the number of
    steps each phase used (recorded as the ``relax_steps`` metric).
    """

    def __init__(self, spec: EnergySpec, generator: torch.Generator | None = None):
        super().__init__()
        self.spec = spec
        self.capabilities = energy_capabilities(spec)
        self.layers = nn.ModuleDict()
        for name, n_in, n_out in zip(spec.layer_names, spec.sizes[:-1], spec.sizes[1:]):
            self.layers[name] = nn.Linear(n_in, n_out, bias=spec.bias)
        FeedforwardNet.reset_parameters(self, generator)  # same initialisation schemes, from spec.init
        self.to(getattr(torch, spec.dtype))
        self.relaxation_log: dict[str, int] = {}
        self.free_converged = True
        self._free_cache: tuple | None = None

    @property
    def layer_names(self) -> list[str]:
        return list(self.spec.layer_names)

    @property
    def dtype(self) -> torch.dtype:
        return getattr(torch, self.spec.dtype)

    def couplings(self) -> Couplings:
        layers = [self.layers[n] for n in self.spec.layer_names]
        return Couplings(tuple(m.weight for m in layers), tuple(m.bias for m in layers))

    def dynamics(self) -> Dynamics:
        return Dynamics(self.spec.formulation, self.spec.activation, self.spec.step_size, self.spec.schedule)

    def zero_state(self, batch: int) -> State:
        w = self.layers[self.spec.layer_names[0]].weight
        return [torch.zeros(batch, n, dtype=w.dtype, device=w.device) for n in self.spec.sizes[1:]]

    def cast(self, x: Tensor) -> Tensor:
        return x.to(self.dtype).reshape(x.shape[0], -1)

    def _cached(self, x: Tensor) -> bool:
        """Whether the cached free phase is of this very batch tensor and these parameter values."""
        cache = self._free_cache
        return cache is not None and cache[0] is x and cache[1] == tuple(p._version for p in self.parameters())

    @torch.no_grad()
    def free_phase(self, x: Tensor) -> Relaxation:
        """Relax from zero with only the input clamped (cached per batch and parameter version)."""
        if self._cached(x):
            return self._free_cache[2]
        xc = self.cast(x)
        c = self.couplings()
        drive0 = input_drive(xc, c)
        rel = relax(self.zero_state(xc.shape[0]), drive0, c, self.dynamics(), self.spec.tolerance, self.spec.max_steps)
        self._free_cache = (x, tuple(p._version for p in self.parameters()), rel, drive0)
        self.relaxation_log["free"] = rel.steps
        self.free_converged = rel.converged
        return rel

    @torch.no_grad()
    def nudged_phase(self, x: Tensor, start: State, force: Force | None = None, clamp: Tensor | None = None,
                     phase: str = "nudged", max_steps: int | None = None) -> Relaxation:
        """Relax from ``start`` (the free fixed point) under a nudging ``force`` or with the output clamped."""
        c = self.couplings()
        drive0 = self._free_cache[3] if self._cached(x) else input_drive(self.cast(x), c)
        rel = relax(list(start), drive0, c, self.dynamics(), self.spec.tolerance,
                    max_steps or self.spec.nudged_max_steps, force, clamp)
        self.relaxation_log[phase] = rel.steps
        return rel

    def energy_contrast(self, state_a: State, state_b: State, x: Tensor, scale: float) -> dict[str, Tensor]:
        """``(dE/dtheta(state_a) - dE/dtheta(state_b)) / scale``, keyed like ``named_parameters()``."""
        out = {}
        pairs = energy_gradient_difference(state_a, state_b, self.cast(x), self.dynamics(), self.spec.bias, scale)
        for name, (dw, db) in zip(self.spec.layer_names, pairs):
            out[f"layers.{name}.weight"] = dw
            if db is not None:
                out[f"layers.{name}.bias"] = db
        return out

    def optimizer_groups(self, kwargs: dict) -> tuple[list[dict], dict]:
        """Parameter groups for the run's optimizer: the keyword ``layer_lr`` (``{layer: lr}``) gives layers their
        own learning rates, as Scellier & Bengio 2017 did (larger near the input); other layers keep ``lr``."""
        kwargs = dict(kwargs)
        layer_lr = kwargs.pop("layer_lr", None) or {}
        unknown = set(layer_lr) - set(self.layer_names)
        if unknown:
            raise BioplausError(f"optimizer 'layer_lr' names unknown layers {sorted(unknown)}; the model's layers are {self.layer_names}.")
        if not layer_lr:
            return list(self.parameters()), kwargs
        return [{"params": list(self.layers[n].parameters()), **({"lr": layer_lr[n]} if n in layer_lr else {})}
                for n in self.layer_names], kwargs

    def record_state(self) -> dict:
        """What the last relaxations did: ``converged`` (whether the free phase of the last batch reached the
        tolerance, so that its reference gradient is the implicit gradient at a fixed point) and
        ``relaxation_log`` (steps per phase)."""
        return {"converged": self.free_converged, "relaxation_log": dict(self.relaxation_log)}

    def forward(self, x: Tensor) -> Tensor:
        return _FreeEquilibrium.apply(x, self, *self.parameters())


class _FreeEquilibrium(torch.autograd.Function):
    """Output state at the free fixed point; backward by implicit differentiation."""

    @staticmethod
    def forward(ctx, x: Tensor, net: EnergyNet, *params: Tensor) -> Tensor:
        rel = net.free_phase(x)
        ctx.net, ctx.state, ctx.x = net, rel.state, net.cast(x)
        return rel.state[-1].clone()

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        net = ctx.net
        g = implicit_gradient(ctx.state, ctx.x, net.couplings(), net.dynamics(), grad_output)
        grads = []
        for w, b in zip(g.W, g.b):
            grads.append(w)
            if b is not None:
                grads.append(b)
        return (None, None, *grads)


def _check_task(spec: EnergySpec, task) -> str | None:
    n_in = getattr(task, "n_in", None)
    if spec.sizes[0] != n_in or spec.sizes[-1] != task.n_out:
        return (f"model '{spec.name}' (models/{spec.name}.toml) field 'sizes' = {list(spec.sizes)} does not fit task "
                f"'{task.name}': sizes[0] must be {n_in} (the task's inputs) and sizes[-1] must be {task.n_out} (its outputs).")
    return None


def energy_capabilities(spec: EnergySpec) -> frozenset[str]:
    caps = {"torch", "energy"}
    if spec.formulation == "energy":
        caps.add("energy:discrete")
    return frozenset(caps)


KIND = ModelKind(
    name="energy",
    spec_type=EnergySpec,
    from_dict=energy_spec_from_dict,
    build=lambda spec, generator: EnergyNet(spec, generator),
    check_task=_check_task,
    capabilities=energy_capabilities,
)
