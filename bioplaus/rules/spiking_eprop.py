"""e-prop for spiking networks (Bellec et al. 2020, Nat. Commun. 11:3625, eqs. 1-3 and Methods).

The gradient of the loss ``E`` with respect to a synapse ``W_ji`` (neuron ``j``, presynaptic ``i``)
is written ``dE/dW_ji = sum_t L_j^t e_ji^t`` (eq. 1 of the paper, exact when ``L_j^t`` is the
total derivative ``dE/dz_j^t``). e-prop keeps the *eligibility trace* ``e_ji^t``, which is exact,
and replaces ``L_j^t`` by the partial derivative through the read-out only, so that no error
travels back through the recurrent weights or back in time:

- eligibility vector ``eps_ji^t = dh_j^t/dh_j^(t-1) eps_ji^(t-1) + dh_j^t/dW_ji`` over all of
  neuron ``j``'s own state ``h_j = (I_j, v_j, a_j)`` (synaptic current, membrane, adaptation),
  with the model's refractory masking and, unless the model detaches it, the reset's
  dependence on the spike (:mod:`bioplaus.snn.lif`'s equations)::

      eps^I_t  = alpha_syn eps^I_(t-1) + p_i^t           (p = [x_t; z_t], the presynaptic spikes or inputs)
      eps^v^_t = alpha eps^v_(t-1) + c eps^I_(t-1)        (eps^v_(t-1) while refractory)
      eps^a^_t = rho eps^a_(t-1)
      e_ji^t   = psi_j^t (eps^v^_t - beta eps^a^_t)        (psi_j^t: the surrogate derivative, 0 while refractory)
      eps^v_t  = eps^v^_t - theta e^t  (subtract; detached: eps^v^_t),  (1 - z_t) eps^v^_t - v^_t e^t  (zero reset)
      eps^a_t  = eps^a^_t + e^t

- learning signal ``L_j^t = sum_k B_jk (dE/dy_k^t)``: ``B = W_out^T`` (symmetric e-prop) or a fixed random
  ``B`` (random e-prop; Bellec et al. call it random e-prop, and the same rule without eligibility traces
  would be spiking DFA);
- with the leaky read-out ``y_t = kappa y_(t-1) + W_out z_t + b``, ``dE/dz_j^t`` through the read-out is a
  sum over later steps; the paper's Methods (eq. 28's filtered trace) move that filter onto the trace:
  ``grad_ji = sum_t L_j^t ebar_ji^t`` with ``ebar^t = kappa ebar^(t-1) + e^t``.

With delta synapses (no synaptic current) the input enters the membrane directly: there is no ``eps^I``,
``eps^v^_t = alpha eps^v_(t-1)`` and the reset acts on ``eps^v^_t + p_i^t``.

**When symmetric e-prop equals surrogate BPTT** (tested): no recurrent weights (so every path from ``W_ji`` to
the loss runs through neuron ``j``'s own state), ``B = W_out^T``, and a read-out that is a function of the leaky
``y_t``: ``trace``, ``mean`` or ``max_membrane`` (its ``dE/dy_t`` is nonzero only at each unit's maximum, read
once the sequence has ended); any neuron, reset, refractoriness or synapse. Spiking read-out units
(``spike_count``) put a second spiking layer between ``z`` and the loss, so no ``dE/dy_t`` exists to send back:
e-prop and spiking DFA refuse such models at protocol build time (capability ``spiking:leaky_readout``).
``online = True`` computes the same estimate truly online (:meth:`SpikingEProp.online_estimate`, ``trace`` only).

The read-out's gradients are exact (local in time). What is dropped is every path through *other*
neurons (the recurrent weights), so on a network without recurrent weights symmetric e-prop *is*
surrogate BPTT (tested). The traces run forward one step at a time, with a per-sample, per-synapse
state ``(batch, n, n_in + n)``; the network's trajectory is simulated first (no graph) and the
errors ``dE/dy^t`` are read from it, so with ``output = "mean"`` (a class score averaged over the
sequence) the learning signal exists only once the sequence has ended, as in Bellec et al.'s
classification tasks.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from bioplaus.core import Batch
from bioplaus.errors import BioplausError, allowed
from bioplaus.rules.base import Rule
from bioplaus.snn.lif import lif_initial_state, lif_step, readout_traces, surrogate_derivative

FEEDBACK = ("symmetric", "random")


class SpikingEProp(Rule):
    """e-prop for LIF / ALIF networks: exact eligibility traces times a symmetric or random learning signal."""

    name = "spiking_eprop"
    title = "e-prop (spiking)"
    colour = "#17becf"
    requires = frozenset({"torch", "spiking:torch", "spiking:leaky_readout"})

    def __init__(self, feedback: str = "symmetric", label: str | None = None, online: bool = False):
        if feedback not in FEEDBACK:
            raise BioplausError(f"rule {self.name!r}: feedback is {feedback!r}; allowed values are {allowed(FEEDBACK)}.")
        if not isinstance(online, bool):
            raise BioplausError(f"rule {self.name!r}: online is {online!r}; allowed values are true or false.")
        super().__init__(label)
        self.feedback_kind, self.online = feedback, online
        self.b: Tensor | None = None
        self.state_bytes = 0  # online: the bytes of every tensor carried from step to step (the rule's memory)

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        if self.online and model.spec.output != "trace":
            raise BioplausError(f"rule {self.name!r} with online = true needs a learning signal at every step: model "
                                f"'{model.spec.name}' has output = {model.spec.output!r}; allowed is output = 'trace' (with a loss "
                                "that is a sum of per-step terms, such as tasks.sequence_squared_error), or online = false.")
        if self.feedback_kind == "random":
            n_out, n = model.readout.weight.shape
            b = torch.randn((n, n_out), generator=generator, dtype=torch.float64) / math.sqrt(n)
            self.b = b.to(dtype=model.readout.weight.dtype, device=model.readout.weight.device)

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        if self.online:
            return self.online_estimate(model, batch)
        c, spec = model.constants, model.spec
        x = batch.x.to(model.w_in.dtype)
        with torch.no_grad():
            tr = model.trajectory(x)
        w_out, b_out = model.readout.weight, model.readout.bias
        traces = readout_traces(tr.z, w_out, b_out, c.kappa)
        g_w, g_b, err = torch.autograd.grad(batch.loss(model.output_of(traces)), [w_out, b_out, traces])
        with torch.no_grad():
            feedback = w_out.t() if self.b is None else self.b  # (n, n_out)
            signal = err @ feedback.t()  # L_j^t, (batch, T, n)
            psi = surrogate_derivative(tr.distance, c.surrogate, c.surrogate_slope, c.surrogate_scale) * (1.0 - tr.refractory)
            pre = torch.cat([x, tr.z], 2) if spec.recurrent else x  # p^t, (batch, T, P)
            grad = self.credit(signal, psi, pre, tr, c)
        n_in = spec.n_in
        out = {"input.weight": grad[:, :n_in]}
        if spec.recurrent:
            out["recurrent.weight"] = grad[:, n_in:] * model.no_self
        out.update({"readout.weight": g_w, "readout.bias": g_b})
        return out

    @torch.no_grad()
    def online_estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        """The same estimate as the offline one, computed truly online: the network, the eligibility traces, the read-out
        and its error advance together one step at a time and nothing of the past is kept but their current values, so
        the memory (:attr:`state_bytes`) does not grow with the sequence length. The learning signal at step ``t`` is
        ``dE/dy_t`` from ``batch.loss_fn.per_step`` (a loss ``(1/B) sum_b sum_t l_bt``); the read-out's gradient uses
        the filtered spikes ``zbar_t = kappa zbar_(t-1) + z_t`` (``dy_t/dW_out``). The state is ``(batch, n, P)`` per
        trace (the read-out-filtered eligibility ``ebar`` at least): per step it costs what the offline recursion does."""
        c, spec = model.constants, model.spec
        per_step = getattr(batch.loss_fn, "per_step", None)
        if per_step is None:
            raise BioplausError(f"rule {self.name!r} with online = true needs a loss with per-step terms (loss_fn.per_step, "
                                "as tasks.sequence_squared_error has); this task's loss has none: use online = false.")
        x = batch.x.to(model.w_in.dtype)
        batch_size, steps, n_in = x.shape
        n = spec.n_hidden
        w_in, w_rec = model.w_in.detach(), None if model.w_rec is None else model.w_rec.detach()
        w_out, b_out = model.readout.weight.detach(), model.readout.bias.detach()
        feedback = w_out.t() if self.b is None else self.b
        heaviside = lambda d: (d > 0).to(d.dtype)  # noqa: E731
        net = lif_initial_state(batch_size, n, x)
        elig = initial_eligibility(batch_size, n, n_in + (n if spec.recurrent else 0), c, x)
        y, zbar, bbar = x.new_zeros((batch_size, spec.n_out)), x.new_zeros((batch_size, n)), 0.0
        grad, g_w, g_b = x.new_zeros((n, elig.ebar.shape[2])), torch.zeros_like(w_out), torch.zeros_like(b_out)
        for t in range(steps):
            net, st = lif_step(net, x[:, t] @ w_in.t(), w_rec, c, heaviside)
            psi = surrogate_derivative(st.distance, c.surrogate, c.surrogate_slope, c.surrogate_scale) * (~st.frozen)
            pre = torch.cat([x[:, t], st.z], 1) if spec.recurrent else x[:, t]
            elig, _ = eligibility_step(elig, psi, pre, st.z, st.v_reset_from, st.frozen if c.refractory_steps else None, c)
            y = c.kappa * y + st.z @ w_out.t() + b_out
            with torch.enable_grad():
                y_t = y.clone().requires_grad_(True)
                (err,) = torch.autograd.grad(per_step(y_t[:, None], batch.y[:, t : t + 1]).sum() / batch_size, y_t)
            grad += torch.einsum("bj,bjp->jp", err @ feedback.t(), elig.ebar)
            zbar, bbar = c.kappa * zbar + st.z, c.kappa * bbar + 1.0
            g_w += err.t() @ zbar
            g_b += err.sum(0) * bbar
        carried = [*net, *(e for e in elig if e is not None), y, zbar, grad, g_w, g_b]
        self.state_bytes = sum(v.numel() * v.element_size() for v in carried)
        out = {"input.weight": grad[:, :n_in]}
        if spec.recurrent:
            out["recurrent.weight"] = grad[:, n_in:] * model.no_self
        out.update({"readout.weight": g_w, "readout.bias": g_b})
        return out

    def credit(self, signal: Tensor, psi: Tensor, pre: Tensor, tr, c) -> Tensor:
        """``dW ~ sum_t L_j^t e_ji^t``: the learning signal ``(batch, T, n)`` times the eligibility traces, summed over
        the batch and time, ``(n, P)`` (:func:`eligibility_sum`)."""
        return eligibility_sum(signal, psi, pre, tr, c)

    def feedback(self) -> dict[str, Tensor]:
        return {} if self.b is None else {"readout": self.b}

    def feedback_targets(self, model: nn.Module) -> dict[str, Tensor]:
        return {} if self.b is None else {"readout": model.readout.weight.detach().t()}

    def config(self) -> dict[str, Any]:
        return {**super().config(), "feedback": self.feedback_kind, **({"online": True} if self.online else {})}


class EligibilityState(NamedTuple):
    """Neuron ``j``'s eligibility vectors for synapse ``ji`` between steps, and the read-out-filtered trace.

    ``eps_i``, ``eps_v``: ``(batch, 1, P)`` while nothing postsynaptic has entered them, else ``(batch, n, P)``
    (``eps_i`` is unused with delta synapses); ``eps_a``: ``(batch, n, P)`` or ``None`` (LIF); ``ebar``: ``(batch, n, P)``."""

    eps_i: Tensor
    eps_v: Tensor
    eps_a: Tensor | None
    ebar: Tensor


def initial_eligibility(batch: int, n: int, n_pre: int, c, like: Tensor) -> EligibilityState:
    presynaptic = like.new_zeros((batch, 1, n_pre))
    return EligibilityState(presynaptic, presynaptic.clone(), like.new_zeros((batch, n, n_pre)) if c.adapt_strength else None,
                            like.new_zeros((batch, n, n_pre)))


def eligibility_step(s: EligibilityState, psi: Tensor, pre: Tensor, z: Tensor, v_reset_from: Tensor, frozen: Tensor | None,
                     c) -> tuple[EligibilityState, Tensor]:
    """One step of the module docstring's recursion: ``psi``, ``z``, ``v_reset_from`` ``(batch, n)`` (``psi`` 0 while
    refractory), ``pre`` ``(batch, P)``, ``frozen`` ``(batch, n)`` bool or ``None``. Returns the new state and ``e^t``."""
    delta = c.synapse == "delta"
    eps_vhat = c.alpha_mem * s.eps_v if delta else c.alpha_mem * s.eps_v + c.coupling * s.eps_i
    if frozen is not None:
        eps_vhat = torch.where(frozen[:, :, None], s.eps_v, eps_vhat)
    eps_a = s.eps_a
    if eps_a is not None:
        eps_a = c.rho_adapt * eps_a
        e = psi[:, :, None] * (eps_vhat - c.adapt_strength * eps_a)
        eps_a = eps_a + e
    else:
        e = psi[:, :, None] * eps_vhat
    eps_i = s.eps_i
    if delta:
        eps_from = eps_vhat + pre[:, None, :]  # the inputs enter the membrane directly: dv/dW_ji = p_i
    else:
        eps_from = eps_vhat
        eps_i = c.alpha_syn * eps_i + pre[:, None, :]
    if c.reset == "subtract":
        eps_v = eps_from if c.detach_reset else eps_from - c.threshold * e
    else:
        eps_v = (1.0 - z[:, :, None]) * eps_from
        if not c.detach_reset:
            eps_v = eps_v - v_reset_from[:, :, None] * e
    return EligibilityState(eps_i, eps_v, eps_a, s.ebar.mul(c.kappa).add_(e)), e


def eligibility_sum(signal: Tensor, psi: Tensor, pre: Tensor, tr, c) -> Tensor:
    """``sum_b sum_t L_j^t ebar_ji^t``, ``(n, P)``, carried forward one step at a time (:func:`eligibility_step`).

    ``signal``, ``psi``: ``(batch, T, n)``; ``pre``: ``(batch, T, P)``; ``tr``: the
    :class:`~bioplaus.snn.lif.LIFTrajectory` (``z``, ``v_reset_from``, ``refractory``); ``c``: the model's
    :class:`~bioplaus.snn.lif.LIFConstants`. The membrane's eligibility stays presynaptic, ``(batch, 1, P)``,
    as long as nothing postsynaptic enters it (LIF, reset detached, no refractoriness).
    """
    batch, steps, n = signal.shape
    if presynaptic(c):
        return presynaptic_eligibility_sum(signal, psi, pre, c)
    state = initial_eligibility(batch, n, pre.shape[2], c, pre)
    grad = pre.new_zeros((n, pre.shape[2]))
    for t in range(steps):
        frozen = tr.refractory[:, t] > 0 if c.refractory_steps else None
        state, _ = eligibility_step(state, psi[:, t], pre[:, t], tr.z[:, t], tr.v_reset_from[:, t], frozen, c)
        grad += torch.einsum("bj,bjp->jp", signal[:, t], state.ebar)
    return grad


def presynaptic(c) -> bool:
    """Whether the membrane's eligibility is presynaptic: LIF, reset by subtraction detached, no refractoriness."""
    return not c.adapt_strength and not c.refractory_steps and c.reset == "subtract" and c.detach_reset


def presynaptic_eligibility_sum(signal: Tensor, psi: Tensor, pre: Tensor, c) -> Tensor:
    """:func:`eligibility_sum` when the membrane's eligibility is presynaptic (:func:`presynaptic`): ``eps^v^_i``
    ``(batch, T, P)`` is carried forward per sample and input only, ``e_ji^t = psi_j^t eps^v^_i^t``,
    and ``sum_t L_j^t ebar_ji^t = sum_t (psi_j^t sum_(t' >= t) kappa^(t' - t) L_j^t') eps^v^_i^t``: the read-out filter moved
    from the trace onto the learning signal, one product over (batch, time) instead of a ``(batch, n, P)`` state per step.
    The same number as the step-by-step recursion (tested), not an online computation when ``kappa > 0`` (the filtered
    signal reads later errors); with ``kappa = 0`` it is online."""
    batch, steps, _ = pre.shape
    eps_i = pre.new_zeros((batch, pre.shape[2]))
    eps_v = eps_i.clone()
    eps_vhat = []
    for t in range(steps):
        if c.synapse == "delta":
            eps_v = c.alpha_mem * eps_v
            eps_vhat.append(eps_v)
            eps_v = eps_v + pre[:, t]
        else:
            eps_v = c.alpha_mem * eps_v + c.coupling * eps_i
            eps_vhat.append(eps_v)
            eps_i = c.alpha_syn * eps_i + pre[:, t]
    filtered = signal.clone()
    for t in range(steps - 2, -1, -1):  # sum_(t' >= t) kappa^(t' - t) L^t'
        filtered[:, t] += c.kappa * filtered[:, t + 1]
    return torch.einsum("btj,btp->jp", psi * filtered, torch.stack(eps_vhat, 1))
