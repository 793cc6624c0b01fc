"""EP/BPTT matching: the step-by-step comparison of EP's updates with BPTT's gradients
(Ernoult, Grollier, Querlioz, Bengio & Scellier 2019, "Updates of Equilibrium Prop Match
Gradients of Backprop Through Time in an RNN with Static Input", NeurIPS 32, their theorem,
the "GDU property").

Setting (the theorem's conditions): discrete-time dynamics ``s_{t+1} = dPhi/ds(x, s_t, theta)``
derived from a primitive function Phi with symmetric weights; here the gradient-flow
formulation of :mod:`bioplaus.rate.energy`, ``Phi = 1/2 |s|^2 - eps E``, so
``s_{t+1} = s_t - eps dE/ds``. The free phase has converged to ``s*`` before the window.

BPTT: from ``s_0 = s*`` run ``K`` more free steps with parameters ``theta_1 .. theta_K``
(one copy per step) and differentiate the per-sample loss ``l(s_K)`` (batch loss x batch
size; the batch mean for parameters); ``grad_s(t) = dl/ds_{K-t}`` and
``grad_theta(t) = dL/dtheta_{K-t}``, the contribution of the transition into step ``K - t``.

EP: from ``s^beta_0 = s*`` the nudged steps ``s^beta_{t+1} = s^beta_t - eps (dE/ds + beta dl/ds)``;
``DeltaEP_s(t) = (s^beta_{t+1} - s^beta_t) / (eps beta)`` and
``DeltaEP_theta(t) = -(dE/dtheta(s^beta_{t+1}) - dE/dtheta(s^beta_t)) / beta``; with centered
nudging the same differences of the ``+beta`` and ``-beta`` trajectories over ``2 beta``
(Laborieux et al. 2021). The theorem: ``DeltaEP(t) -> -grad(t)`` as ``beta -> 0`` for every t.

Since the neural states of the energy formulation are the units' internal (pre-activation)
variables, the neural updates are compared in pre-activation coordinates.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bioplaus.core import Batch
from bioplaus.metrics.angles import angle_deg, flat64
from bioplaus.rate.energy import Couplings, EnergyNet, energy_parameter_gradient, input_drive, relax_step
from bioplaus.rules.nudging import nudging_force

Row = tuple[int, str, str, float]


def bptt_window_gradients(net: EnergyNet, x: Tensor, start: list[Tensor], batch: Batch, window: int):
    """``grad_s[t]`` (list over layers, ``(batch, n_k)``) and ``grad_theta[t]`` (``Couplings``), ``t = 0 .. window-1``."""
    c = net.couplings()
    dyn = net.dynamics()
    with torch.enable_grad():
        thetas = [Couplings(tuple(w.detach().clone().requires_grad_(True) for w in c.W),
                            tuple(None if b is None else b.detach().clone().requires_grad_(True) for b in c.b))
                  for _ in range(window)]
        states = [[s.detach().clone() for s in start]]
        for th in thetas:
            states.append(relax_step(states[-1], input_drive(x, th), th, dyn))
        loss = batch.loss(states[-1][-1]) * x.shape[0]
        flat_states = [s for st in states[1:] for s in st]
        flat_params = [p for th in thetas for w, b in zip(th.W, th.b) for p in (w, *([b] if b is not None else []))]
        grads = torch.autograd.grad(loss, flat_states + flat_params, allow_unused=True)
    n_layers = len(start)
    gs = [list(grads[k * n_layers:(k + 1) * n_layers]) for k in range(window)]  # dl/ds_{k+1}
    gp = grads[len(flat_states):]
    per = len(gp) // window
    gtheta = [gp[k * per:(k + 1) * per] for k in range(window)]  # dL/dtheta_{k+1} (batch mean: / batch)
    grad_s = [[torch.zeros_like(s) if g is None else g for g, s in zip(gs[window - 1 - t], start)] for t in range(window)]
    params = flat_params[:per]
    grad_theta = [[torch.zeros_like(p) if g is None else g / x.shape[0] for g, p in zip(gtheta[window - 1 - t], params)]
                  for t in range(window)]
    return grad_s, grad_theta


def ep_window_updates(net: EnergyNet, x: Tensor, start: list[Tensor], batch: Batch, beta: float, centered: bool, window: int):
    """``DeltaEP_s[t]`` and ``DeltaEP_theta[t]`` (flat list, weights then biases per layer) for ``t = 0 .. window-1``."""
    c, dyn = net.couplings(), net.dynamics()
    drive0 = input_drive(x, c)

    def trajectory(b: float) -> list[list[Tensor]]:
        states = [list(start)]
        force = nudging_force(batch, b)
        with torch.no_grad():
            for _ in range(window):
                states.append(relax_step(states[-1], drive0, c, dyn, force))
        return states

    def theta_grad(state) -> list[Tensor]:
        pairs = energy_parameter_gradient(state, x, dyn, net.spec.bias)
        return [t for w, b in pairs for t in (w, *([b] if b is not None else []))]

    signs = (1.0, -1.0) if centered else (1.0,)
    scale = beta * len(signs)
    trajs = {s: trajectory(s * beta) for s in signs}
    d_s, d_theta = [], []
    for t in range(window):
        ds = [sum(s * (trajs[s][t + 1][k] - trajs[s][t][k]) for s in signs) / (dyn.step_size * scale) for k in range(len(start))]
        gth = [[s * (a - b) for a, b in zip(theta_grad(trajs[s][t + 1]), theta_grad(trajs[s][t]))] for s in signs]
        dth = [-sum(parts) / scale for parts in zip(*gth)]
        d_s.append(ds)
        d_theta.append(dth)
    return d_s, d_theta


def gdu_rows(net: EnergyNet, batch: Batch, beta: float, centered: bool, window: int) -> list[Row]:
    """``(t, metric, layer, value)`` rows of ``gdu_angle`` (degrees) and ``gdu_rel_error``
    ``|DeltaEP - (-grad)| / |grad|`` per weight (``W1``, ``b1``, ...), per state layer
    (``neurons:<layer>``) and for all parameters (``all``).

    Needs the ``energy`` formulation and a free phase relaxed to the model's tolerance.
    """
    if net.spec.formulation != "energy":
        raise ValueError("the GDU comparison needs the gradient-flow ('energy') formulation")
    free = net.free_phase(batch.x)
    if not free.converged:
        raise RuntimeError(f"free phase not converged after {free.steps} steps (change {free.change:.3g})")
    x = net.cast(batch.x)
    grad_s, grad_theta = bptt_window_gradients(net, x, free.state, batch, window)
    d_s, d_theta = ep_window_updates(net, x, free.state, batch, beta, centered, window)
    names = []
    for k in range(len(net.spec.layer_names)):
        names += [f"W{k + 1}"] + ([f"b{k + 1}"] if net.spec.bias else [])
    rows: list[Row] = []

    def compare(t: int, layer: str, ep: list[Tensor], grad: list[Tensor]) -> None:
        target = [-g for g in grad]
        theta = angle_deg(ep, target)
        norm = float(flat64(grad).norm())
        if theta is None or norm == 0:
            return
        rows.append((t, "gdu_angle", layer, theta))
        rows.append((t, "gdu_rel_error", layer, float((flat64(ep) - flat64(target)).norm()) / norm))

    for t in range(window):
        for name, ep, g in zip(names, d_theta[t], grad_theta[t]):
            compare(t, name, [ep], [g])
        compare(t, "all", d_theta[t], grad_theta[t])
        for layer, ep, g in zip(net.spec.layer_names, d_s[t], grad_s[t]):
            compare(t, f"neurons:{layer}", [ep], [g])
    return rows
