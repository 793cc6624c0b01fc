"""What the temporal credit-assignment rules for recurrent networks share.

Every rule here estimates the gradient of a sequence loss ``L = sum_t L_t`` with respect
to the recurrent parameters ``W = [W_rec W_in b]`` of a
:class:`bioplaus.rate.recurrent.RecurrentNet`. Following Marschall, Cho & Savin (2020,
eq. 4), the *online* rules write the gradient as ``dL/dW = sum_t c_t M_t`` with the
immediate credit ``c_t = dL_t/dh_t`` (here ``e_t W_out``, ``e_t = dL/dy_t``) and an
approximation of the influence matrix ``M_t = dh_t/dW`` carried forward in time. An
:class:`OnlineRule` runs the network forward once, computes ``c_t`` for every step, and
then carries its influence approximation step by step, using at step ``t`` only
quantities from steps ``<= t``. The read-out gradient ``sum_t e_t [h_t; 1]^T`` is local in
time and exact for every rule.

Estimates are returned per sequence (``(batch, n, n + m + 1)``), so that the ``m``
independent estimates of the estimator statistics are one batched call on ``m`` copies
of one sequence; :meth:`OnlineRule.estimate` sums them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor, nn

from bioplaus.errors import BioplausError
from bioplaus.rate.recurrent import Trajectory, run_rnn
from bioplaus.core import Batch
from bioplaus.rules.base import Rule


class RecurrentRule(Rule):
    """A rule for recurrent networks. By default it needs the cell whose parameters are one matrix
    ``W = [W_rec W_in b]`` (``recurrent:influence``, the structure the influence matrix is written in);
    rules that only differentiate through time (truncated BPTT) need any recurrent model.

    One protocol compares sizes, cells or task settings through conditions:
    ``Condition(rules.UORO(), model={"n_hidden": 64}, task={"delay": 20})``.
    """

    requires = frozenset({"torch", "recurrent", "recurrent:influence"})

    def setup(self, model: nn.Module, generator: torch.Generator) -> None:
        self.generator = generator

    def signs(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """Independent random signs ``+-1`` of ``shape`` from the rule's generator."""
        s = torch.randint(0, 2, shape, generator=self.generator, dtype=torch.int64) * 2 - 1
        return s.to(dtype=like.dtype, device=like.device)

    def gaussian(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """Independent ``N(0, 1)`` draws of ``shape`` from the rule's generator (float64, then cast)."""
        return torch.randn(shape, generator=self.generator, dtype=torch.float64).to(dtype=like.dtype, device=like.device)


@dataclass
class SequencePass:
    """One forward pass of a batch of sequences and the immediate credit at every step.

    ``trajectory``: see :class:`bioplaus.rate.recurrent.Trajectory`; ``error``: ``e_t = dL/dy_t``,
    ``(batch, T, n_out)`` (including the loss's ``1/B``); ``credit``: ``c_t = e_t W_out``,
    ``(batch, T, n)``; ``readout``: the exact read-out gradients; ``output``: ``(batch, T, n_out)``;
    ``noise``: the state noise the trajectory was run with, if any.
    """

    trajectory: Trajectory
    error: Tensor
    credit: Tensor
    readout: dict[str, Tensor]
    output: Tensor
    noise: Tensor | None = None


def sequence_pass(model: nn.Module, batch: Batch, noise: Tensor | None = None, h0: Tensor | None = None) -> SequencePass:
    """Run ``batch.x`` forward from ``h0`` (zero unless given; with state ``noise`` ``(batch, T, n)`` if given)
    and differentiate the loss with respect to the outputs and the read-out only (no backward pass through time)."""
    w = model.w.detach()
    traj = run_rnn(w, batch.x.to(w.dtype), model.alpha, model.activation, noise, h0)
    out = model.readout(traj.h[:, 1:])
    gw, gb, err = torch.autograd.grad(batch.loss(out), [model.readout.weight, model.readout.bias, out])
    return SequencePass(traj, err, err @ model.readout.weight.detach(), {"readout.weight": gw, "readout.bias": gb}, out.detach(), noise)


class OnlineRule(RecurrentRule):
    """A rule that carries an approximation of the influence matrix forward in time.

    Subclasses implement :meth:`recurrent_estimates` from a :class:`SequencePass`; rules that
    perturb the state (REINFORCE) override :meth:`state_noise`.

    ``update_every`` (time steps; default ``None``: once per batch of sequences, after the whole
    sequence) makes training online: every ``update_every`` steps the estimate of that window's
    loss is applied, and the sequences go on with the new parameters, the rule's influence
    approximation carried over (it then mixes derivatives through the parameters of earlier
    windows, as online RTRL does; Marschall et al. 2020, Sec. 2). See :meth:`online_updates`.
    """

    def __init__(self, label: str | None = None, update_every: int | None = None):
        super().__init__(label)
        if update_every is not None and (isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1):
            raise BioplausError(f"rule {self.name!r}: update_every is {update_every!r}; allowed values are a positive "
                                "number of time steps or None (one update per batch of sequences).")
        self.update_every = update_every

    def config(self) -> dict[str, Any]:
        out = super().config()
        if self.update_every is not None:
            out["update_every"] = self.update_every
        return out

    def online_updates(self, model: nn.Module, batch: Batch, update_every: int) -> Iterator[tuple[dict[str, Tensor], Batch]]:
        """Yield ``(estimate, window)`` for the windows ``[t0, t0 + update_every)`` of ``batch``'s sequences, in order.

        Each window runs from the state where the previous one ended, with the model's parameters at
        the time it is computed (the caller updates them between windows), and the rule's state
        (influence approximation, traces) carried over; the estimate is that of the window's loss
        (summed over the batch). With ``update_every >= T`` it is :meth:`estimate` of the whole batch.
        """
        steps = batch.x.shape[1]
        noise = self.state_noise(model, batch)
        carry: dict[str, Any] = {}
        for t0 in range(0, steps, update_every):
            window = Batch(batch.x[:, t0 : t0 + update_every], batch.y[:, t0 : t0 + update_every], batch.loss_fn)
            sp = sequence_pass(model, window, None if noise is None else noise[:, t0 : t0 + update_every], carry.get("h"))
            grad = self.recurrent_estimates(model, window, sp, per_sequence=False, carry=carry)
            carry["h"] = sp.trajectory.h[:, -1]
            yield {"recurrent.weight": grad.sum(0), **sp.readout}, window

    def state_noise(self, model: nn.Module, batch: Batch) -> Tensor | None:
        """Noise added to the state at each step, ``(batch, T, n)``; ``None`` for deterministic dynamics."""
        return None

    def recurrent_estimates(self, model: nn.Module, batch: Batch, sp: SequencePass, per_sequence: bool = True,
                            carry: dict[str, Any] | None = None) -> Tensor:
        """Per-sequence estimates of ``dL/dW``, ``(batch, n, n + m + 1)``, which sum to the batch estimate;
        with ``per_sequence = False`` a rule may return their sum, ``(1, n, n + m + 1)``, instead (cheaper
        when the estimate is a weighted sum over the batch: see :func:`accumulate`). ``carry``, if given,
        holds the rule's state between the windows of :meth:`online_updates`: read at the start (empty:
        a sequence's start), written at the end."""
        raise NotImplementedError

    def sequence_estimates(self, model: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        """``(per-sequence dL/dW estimates, exact read-out gradients)`` for ``batch``."""
        sp = sequence_pass(model, batch, self.state_noise(model, batch))
        return self.recurrent_estimates(model, batch, sp), sp.readout

    def estimate(self, model: nn.Module, batch: Batch) -> dict[str, Tensor]:
        sp = sequence_pass(model, batch, self.state_noise(model, batch))
        return {"recurrent.weight": self.recurrent_estimates(model, batch, sp, per_sequence=False).sum(0), **sp.readout}


def estimate_buffer(state: Tensor, per_sequence: bool) -> Tensor:
    """Zeroed estimate for a per-sequence ``state`` ``(batch, n, P)``: ``(batch, n, P)`` or, summed, ``(1, n, P)``."""
    return state.new_zeros(state.shape if per_sequence else (1, *state.shape[1:]))


def accumulate(grad: Tensor, weight: Tensor, state: Tensor) -> None:
    """``grad += weight * state`` per sequence, or summed over the batch when ``grad`` is ``(1, n, P)``.

    ``state``: ``(batch, n, P)``; ``weight``: ``(batch,)`` (one number per sequence, UORO's
    ``c_t . h~_t``) or ``(batch, n)`` (one per row, the learning signals of e-prop and RFLO; these
    need a per-sequence ``grad``: a row-weighted sum over the batch is no single BLAS call, and
    ``n`` batched ``1 x batch`` products measured slower than the per-sequence update). Summed over
    the batch, the accumulation is one matrix-vector product that reads ``state`` once and writes
    only ``(n, P)``.
    """
    batch = state.shape[0]
    if grad.shape[0] == batch:
        grad.addcmul_(weight.reshape(batch, -1, 1), state)
    elif weight.dim() == 1:
        grad.view(-1).addmv_(state.reshape(batch, -1).t(), weight)
    else:
        raise ValueError("accumulate: row weights (batch, n) need a per-sequence grad (batch, n, P)")


def autograd_estimate(model: nn.Module, loss: Tensor) -> dict[str, Tensor]:
    """``d loss / d param`` for every parameter of ``model`` (zeros where the loss does not depend on one)."""
    params = dict(model.named_parameters())
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {k: torch.zeros_like(p) if g is None else g for (k, p), g in zip(params.items(), grads)}
