"""Spiking networks in torch: current-based or delta-synapse (adaptive) LIF neurons, a recurrent layer and a read-out.

Why a package of its own (``bioplaus/snn/``) beside ``bioplaus/spiking/``: the Brian2 models
there run in their own engine and import Brian2; this network runs in the one torch run
loop (:mod:`bioplaus.train`) and is differentiated by autograd, so it shares nothing with them
but the neuron model, which a test checks spike for spike against Brian2.

The dynamics are Brian2's, integrated exactly over one step ``dt`` (the ``exact`` method),
in Brian2's order within a step (state update, threshold, synapses, reset), so that an input
spike at step ``t`` acts on the membrane from step ``t + 1``. Voltages are in units of the
threshold scale (``threshold = 1`` by default), currents in the same units::

    dv/dt = (I - v) / tau_mem   (unless refractory)     dI/dt = -I / tau_syn     da/dt = -a / tau_adapt

Per step ``t = 1..T`` (``alpha = exp(-dt/tau_mem)``, ``alpha_syn = exp(-dt/tau_syn)``,
``rho = exp(-dt/tau_adapt)``, ``c = tau_syn / (tau_syn - tau_mem) (alpha_syn - alpha)`` the exact
current-to-membrane coupling, ``c = (dt/tau) alpha`` when the two time constants are equal)::

    v^_t = alpha v_{t-1} + c I_{t-1}           (v^_t = v_{t-1} while refractory)
    a^_t = rho a_{t-1}
    z_t  = H(v^_t - A_t),  A_t = theta + beta a^_t   (0 while refractory)
    I_t  = alpha_syn I_{t-1} + W_in x_t + W_rec z_t  (recurrent spikes arrive within the step, Brian2's zero delay)
    v_t  = v^_t - theta z_t  (reset by subtraction)  or  v^_t (1 - z_t)  (reset to zero)
    a_t  = a^_t + z_t
    y_t  = kappa y_{t-1} + W_out z_t + b_out          (leaky non-spiking read-out, kappa = exp(-dt/tau_readout))

With delta synapses (``synapse = "delta"``, the LIF neuron without a synaptic current that Bellec et al. 2020
use: the input current enters the membrane directly) the model is Brian2's ``dv/dt = -v / tau_mem`` with
``on_pre: v += w``, in the same order::

    v^_t = alpha v_{t-1}                       (v^_t = v_{t-1} while refractory)
    v_t  = reset(v^_t + W_in x_t + W_rec z_t, z_t)   (the inputs jump the membrane after the threshold, before the reset)

so an input at step ``t`` first reaches the threshold at ``t + 1``, scaled by ``alpha``. The authors' code
(IGITUGraz/eligibility_propagation, ``models.py``, ``EligALIF``; their Methods were not reachable from here) steps
``V_t = alpha V_(t-1) + W_in x_t + W_rec z_(t-1) - theta z_(t-1)``, ``z_t = H(V_t - theta)``. With ``V_t = v^_(t+1) / alpha``
this model is the same recursion with every spike read one step later and a threshold ``theta / alpha`` on ``V``
while the reset subtracts ``theta``: close to theirs, not identical (the reset is ``alpha`` times the threshold).
``tests/test_snn.py`` checks this form spike for spike against Brian2 (without refractoriness: Brian2's
``(unless refractory)`` flag drops a jump arriving in a neuron's spike step).

ALIF (``neuron = "alif"``) is the adaptive threshold of Bellec et al. 2020 (Nat. Commun. 11:3625,
Methods, eq. for ``A_j^t``), with the spike added to ``a`` after the threshold as Brian2's reset
does; Bellec et al.'s ``beta`` equals this ``adapt_strength`` times ``rho``. ``W_rec`` has no
self-connections (its diagonal is held at zero, as in Bellec et al.).

The spike's derivative is replaced by a surrogate (Zenke & Ganguli 2018, SuperSpike's fast sigmoid
``scale / (1 + slope |x|)^2``; a sigmoid ``scale slope s (1 - s)``; Bellec et al.'s triangle
``scale slope max(0, 1 - slope |x|)``), so :meth:`SpikingNet.reference_gradient`, autograd through
:func:`run_lif`, is **surrogate-gradient BPTT: the gradient of a surrogate, not of the spiking
loss** (which is piecewise constant in the weights). ``detach_reset`` stops the gradient through
the reset term, as Bellec et al.'s code does. The model's gradient runs through :class:`FusedSurrogateBPTT`, a
hand-written adjoint of the whole sequence, which a test checks against autograd through :func:`run_lif`; with
``kernel = "cpp"`` its loops for plain LIF run as the compiled kernel of :mod:`bioplaus.snn.lif_kernel`.

Read-outs (``output``): the leaky non-spiking ``y_t`` at every step (``trace``), averaged (``mean``), or its
maximum over time (``max_membrane``, Zenke & Vogels 2021; Cramer et al.), all linear in the hidden spikes
before the max; or spiking read-out units whose spike counts are the class scores (``spike_count``), whose
gradient runs through the read-out units' own surrogate. Rules that send ``dE/dy_t`` to the hidden neurons
(e-prop, spiking DFA) need the leaky read-out (capability ``spiking:leaky_readout``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from bioplaus.core import TorchModel
from bioplaus.errors import BioplausError, allowed
from bioplaus.model_kind import ModelKind, check_fields
from bioplaus.snn import lif_kernel

NEURONS = ("lif", "alif")
RESETS = ("subtract", "zero")
SURROGATES = ("fast_sigmoid", "sigmoid", "triangle")
SYNAPSES = ("current", "delta")
OUTPUTS = ("trace", "mean", "max_membrane", "spike_count")
DTYPES = ("float32", "float64")
KERNELS = ("torch", "cpp")


@dataclass(frozen=True)
class SpikingSpec:
    """A recurrent layer of (adaptive) LIF neurons with a leaky read-out (see the module docstring).

    Attributes:
        n_in, n_hidden, n_out: input channels, spiking neurons, read-out units.
        neuron: ``lif`` or ``alif`` (adaptive threshold; ``tau_adapt_ms``, ``adapt_strength``).
        synapse: ``current`` (inputs add to a synaptic current ``I`` that decays with ``tau_syn_ms``) or ``delta``
            (inputs jump the membrane, Bellec et al. 2020's neuron; ``tau_syn_ms`` unused).
        recurrent: whether the layer has recurrent weights ``W_rec`` (no self-connections).
        dt_ms: the time step; ``tau_mem_ms``, ``tau_syn_ms``, ``tau_adapt_ms``, ``tau_readout_ms``: time constants.
        threshold: ``theta``; ``reset``: ``subtract`` (``v -= theta``) or ``zero`` (``v = 0``).
        refractory_ms: a whole number of steps; a neuron that spiked at step ``t`` neither integrates nor
            spikes at steps ``t + 1 .. t + k - 1`` (``k = refractory_ms / dt_ms``; Brian2's ``refractory``).
        detach_reset: no gradient through the reset (Bellec et al.'s code).
        surrogate, surrogate_slope, surrogate_scale: the spike's pseudo-derivative ``psi(x)``, ``x = v^ - A``.
        output: ``trace`` (``y_t`` at every step, for sequence tasks), ``mean`` (``(1/T) sum_t y_t``, class scores),
            ``max_membrane`` (``max_t y_t``, class scores: Zenke & Vogels 2021's and Cramer et al.'s max-over-time
            read-out) or ``spike_count`` (the read-out units spike: LIF neurons of the hidden layer's kind without
            adaptation or recurrence, driven by ``W_out z_t + b_out``; class scores are their spike counts
            ``sum_t z^out_t`` and the gradient runs through the read-out neurons' surrogate ``psi``).
        input_scale: ``W_in ~ N(0, s^2 / n_in)``; ``recurrent_gain``: ``W_rec ~ N(0, g^2 / n_hidden)``;
            ``W_out ~ N(0, 1 / n_hidden)``, ``b_out = 0``.
        dtype: ``float64`` (default: comparisons with exact gradients) or ``float32``.
        kernel: ``torch`` (default) or ``cpp``: surrogate BPTT's loops (:class:`FusedSurrogateBPTT`) as a compiled C++
            kernel (:mod:`bioplaus.snn.lif_kernel`, built once per machine, about a minute the first time) whose forward
            sums the recurrent input over the neurons that spiked only; for LIF with the reset by subtraction detached and
            no refractoriness, on CPU (other devices run the torch path). Sums run in another order, so its numbers can
            differ from ``torch``'s in the last bits (float64: same spikes, gradients to 1e-10).
    """

    name: str
    n_in: int
    n_hidden: int
    n_out: int
    neuron: str = "lif"
    synapse: str = "current"
    recurrent: bool = True
    dt_ms: float = 1.0
    tau_mem_ms: float = 20.0
    tau_syn_ms: float = 5.0
    tau_adapt_ms: float = 200.0
    adapt_strength: float = 0.0
    threshold: float = 1.0
    reset: str = "subtract"
    refractory_ms: float = 0.0
    detach_reset: bool = True
    surrogate: str = "fast_sigmoid"
    surrogate_slope: float = 10.0
    surrogate_scale: float = 1.0
    tau_readout_ms: float = 20.0
    output: str = "trace"
    input_scale: float = 1.0
    recurrent_gain: float = 1.0
    dtype: str = "float64"
    kernel: str = "torch"
    description: str = ""
    kind: str = "spiking_torch"

    def to_dict(self) -> dict[str, Any]:
        """The spec as data; ``kernel`` only when not the default, so run configs (and their hashes) stored before the
        field existed stay the same."""
        data = dataclasses.asdict(self)
        if data["kernel"] == "torch":
            del data["kernel"]
        return data

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "kind": (str, "a string"), "name": (str, "a string"), "description": (str, "a string"),
    "n_in": (int, "a positive integer"), "n_hidden": (int, "a positive integer"), "n_out": (int, "a positive integer"),
    "neuron": (str, "a string"), "synapse": (str, "a string"), "recurrent": (bool, "true or false"),
    "dt_ms": ((int, float), "a positive number of milliseconds"),
    "tau_mem_ms": ((int, float), "a positive number of milliseconds"),
    "tau_syn_ms": ((int, float), "a positive number of milliseconds"),
    "tau_adapt_ms": ((int, float), "a positive number of milliseconds"),
    "tau_readout_ms": ((int, float), "a positive number of milliseconds"),
    "adapt_strength": ((int, float), "a non-negative number"),
    "threshold": ((int, float), "a positive number"),
    "reset": (str, "a string"), "refractory_ms": ((int, float), "a non-negative multiple of dt_ms"),
    "detach_reset": (bool, "true or false"), "surrogate": (str, "a string"),
    "surrogate_slope": ((int, float), "a positive number"), "surrogate_scale": ((int, float), "a positive number"),
    "output": (str, "a string"), "input_scale": ((int, float), "a non-negative number"),
    "recurrent_gain": ((int, float), "a non-negative number"), "dtype": (str, "a string"),
    "kernel": (str, "a string"),
}
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(SpikingSpec) if f.default is not dataclasses.MISSING}


def spiking_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> SpikingSpec:
    """Validate a parsed TOML table; errors name ``source``, the field, the value and what is allowed."""

    def fail(field: str, msg: str) -> BioplausError:
        return BioplausError(f"{source}: field '{field}' {msg}")

    check_fields(data, _FIELDS, source, "a torch spiking model spec", required=("n_in", "n_hidden", "n_out"))
    for key in ("n_in", "n_hidden", "n_out"):
        if data[key] < 1:
            raise fail(key, f"must be a positive integer, got {data[key]!r}.")
    choices = {"neuron": NEURONS, "synapse": SYNAPSES, "reset": RESETS, "surrogate": SURROGATES, "output": OUTPUTS, "dtype": DTYPES,
               "kernel": KERNELS}
    for key, values in choices.items():
        if key in data and data[key] not in values:
            raise fail(key, f"is {data[key]!r}; allowed values are {allowed(values)}.")
    for key in ("dt_ms", "tau_mem_ms", "tau_syn_ms", "tau_adapt_ms", "tau_readout_ms", "threshold", "surrogate_slope", "surrogate_scale"):
        if key in data and not float(data[key]) > 0:
            raise fail(key, f"must be a positive number, got {data[key]!r}.")
    for key in ("adapt_strength", "input_scale", "recurrent_gain", "refractory_ms"):
        if key in data and float(data[key]) < 0:
            raise fail(key, f"must be a non-negative number, got {data[key]!r}.")
    dt = float(data.get("dt_ms", _DEFAULTS["dt_ms"]))
    steps = float(data.get("refractory_ms", 0.0)) / dt
    if abs(steps - round(steps)) > 1e-9:
        raise fail("refractory_ms", f"is {data['refractory_ms']!r}, not a whole number of steps of dt_ms = {dt!r}; "
                   "allowed values are 0, dt_ms, 2 dt_ms, ...")
    if data.get("adapt_strength", 0) and data.get("neuron", "lif") != "alif":
        raise fail("adapt_strength", "applies only to neuron = 'alif' (an adaptive threshold); set neuron = 'alif' or drop it.")
    if data.get("kernel") == "cpp":
        plain = {"neuron": "lif", "reset": "subtract", "detach_reset": True}
        wrong = [f"{k} = {data[k]!r}" for k, v in plain.items() if k in data and data[k] != v]
        if float(data.get("refractory_ms", 0.0)) > dt:
            wrong.append(f"refractory_ms = {data['refractory_ms']!r}")
        if wrong:
            raise fail("kernel", f"is 'cpp', which covers LIF neurons with the reset by subtraction detached and no "
                       f"refractoriness (neuron = 'lif', reset = 'subtract', detach_reset = true, refractory_ms <= dt_ms); "
                       f"this spec has {', '.join(wrong)}. Use kernel = 'torch' (the default) for it.")
    fields = {k: (float(v) if isinstance(_DEFAULTS.get(k), float) else v) for k, v in data.items() if k != "kind"}
    fields.setdefault("name", default_name)
    return SpikingSpec(**fields)


# -- the spike and its surrogate ----------------------------------------------------------------
def surrogate_derivative(x: Tensor, kind: str, slope: float, scale: float) -> Tensor:
    """``psi(x)``, the pseudo-derivative of the spike at ``x = v^ - A`` (any shape, same shape out).

    ``fast_sigmoid``: ``scale / (1 + slope |x|)^2`` (Zenke & Ganguli 2018, SuperSpike);
    ``sigmoid``: ``scale slope s (1 - s)``, ``s = sigmoid(slope x)``; ``triangle``:
    ``scale slope max(0, 1 - slope |x|)`` (Bellec et al. 2020, Methods, with ``slope = 1 / v_th``).
    """
    if kind == "fast_sigmoid":
        return scale / (1.0 + slope * x.abs()).square()
    if kind == "sigmoid":
        s = torch.sigmoid(slope * x)
        return scale * slope * s * (1.0 - s)
    return scale * slope * torch.clamp(1.0 - slope * x.abs(), min=0.0)


def smooth_spike(x: Tensor, kind: str, slope: float, scale: float) -> Tensor:
    """A smooth function whose derivative is :func:`surrogate_derivative` (an antiderivative of ``psi``):
    the network in which surrogate BPTT is the true gradient, for finite-difference tests."""
    if kind == "fast_sigmoid":
        return scale * x / (1.0 + slope * x.abs())
    if kind == "sigmoid":
        return scale * torch.sigmoid(slope * x)
    u = torch.clamp(slope * x, -1.0, 1.0)
    return scale * (u - u * u.abs() / 2)


class SurrogateSpike(torch.autograd.Function):
    """``H(x)`` (``x > 0``, Brian2's ``v > threshold``) forward; ``grad * psi(x)`` backward."""

    @staticmethod
    def forward(ctx, x: Tensor, kind: str, slope: float, scale: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = (kind, slope, scale)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * surrogate_derivative(x, *ctx.surrogate), None, None, None


# -- the pure functions of the dynamics ---------------------------------------------------------
class LIFConstants(NamedTuple):
    """Per-step constants of :func:`run_lif`, from a spec (:func:`lif_constants`); all dimensionless."""

    alpha_mem: float
    alpha_syn: float
    coupling: float
    rho_adapt: float
    adapt_strength: float
    threshold: float
    reset: str
    refractory_steps: int
    detach_reset: bool
    surrogate: str
    surrogate_slope: float
    surrogate_scale: float
    kappa: float
    synapse: str = "current"
    kernel: str = "torch"


def lif_constants(spec: SpikingSpec) -> LIFConstants:
    """The exact one-step propagators of the module docstring's equations for ``spec``."""
    dt, tm, ts = spec.dt_ms, spec.tau_mem_ms, spec.tau_syn_ms
    a_m, a_s = math.exp(-dt / tm), math.exp(-dt / ts)
    coupling = (dt / tm) * a_m if math.isclose(tm, ts) else ts / (ts - tm) * (a_s - a_m)
    adaptive = spec.neuron == "alif"
    return LIFConstants(
        a_m, a_s, coupling, math.exp(-dt / spec.tau_adapt_ms) if adaptive else 0.0, spec.adapt_strength if adaptive else 0.0,
        spec.threshold, spec.reset, round(spec.refractory_ms / dt), spec.detach_reset,
        spec.surrogate, spec.surrogate_slope, spec.surrogate_scale, math.exp(-dt / spec.tau_readout_ms), spec.synapse,
        spec.kernel,
    )


class LIFTrajectory(NamedTuple):
    """A batch of sequences run through the spiking layer, all ``(batch, T, n)``.

    ``z``: spikes; ``v_hat``: membrane before threshold and reset; ``distance``: ``v^_t - A_t``;
    ``refractory``: 1 where the neuron was refractory (no integration, no spike), else 0;
    ``v_reset_from``: the membrane the reset acts on (``v^_t``; with delta synapses ``v^_t`` plus the step's inputs).
    """

    z: Tensor
    v_hat: Tensor
    distance: Tensor
    refractory: Tensor
    v_reset_from: Tensor


def spike_with_surrogate(c: LIFConstants) -> Callable[[Tensor], Tensor]:
    """The spike nonlinearity of the real network: Heaviside forward, surrogate backward."""
    return lambda x: SurrogateSpike.apply(x, c.surrogate, c.surrogate_slope, c.surrogate_scale)


class LIFState(NamedTuple):
    """The layer's state between steps, all ``(batch, n)``: synaptic current, membrane, adaptation, refractory countdown."""

    i_syn: Tensor
    v: Tensor
    a: Tensor
    countdown: Tensor


class LIFStep(NamedTuple):
    """What one step produced, all ``(batch, n)``: the fields of :class:`LIFTrajectory` at one step (``frozen``: bool)."""

    z: Tensor
    v_hat: Tensor
    distance: Tensor
    frozen: Tensor
    v_reset_from: Tensor


def lif_initial_state(batch: int, n: int, like: Tensor) -> LIFState:
    zeros = like.new_zeros((batch, n))
    return LIFState(zeros, zeros, zeros, torch.zeros((batch, n), dtype=torch.int64, device=like.device))


def lif_step(state: LIFState, drive_t: Tensor, w_rec: Tensor | None, c: LIFConstants,
             spike: Callable[[Tensor], Tensor]) -> tuple[LIFState, LIFStep]:
    """One step of the module docstring's equations: ``drive_t = W_in x_t`` ``(batch, n)``, ``spike``: ``x -> z``."""
    i_syn, v, a, countdown = state
    delta, refractory = c.synapse == "delta", c.refractory_steps > 1  # k = 1: a neuron may spike again at once, as in Brian2
    v_hat = c.alpha_mem * v if delta else torch.add(c.alpha_mem * v, i_syn, alpha=c.coupling)
    frozen = torch.zeros_like(countdown, dtype=torch.bool)
    if refractory:
        countdown = (countdown - 1).clamp_(min=0)
        frozen = countdown > 0
        v_hat = torch.where(frozen, v, v_hat)
    distance = v_hat - c.threshold
    if c.adapt_strength:
        a = c.rho_adapt * a  # a^_t
        distance = distance - c.adapt_strength * a
    z = spike(distance)
    if refractory:
        z = z * (~frozen).to(z.dtype)
        countdown = torch.where(z.detach() > 0, c.refractory_steps, countdown)
    # written with the fused forms (add with alpha, addmm) that FusedSurrogateBPTT uses, so both give the same bits
    if delta:  # the inputs jump the membrane (Brian2's on_pre: v += w), after the threshold, before the reset
        pre = v_hat + drive_t
        if w_rec is not None:
            pre = torch.addmm(pre, z, w_rec.t())
    else:
        pre = v_hat
        i_syn = c.alpha_syn * i_syn + drive_t
        if w_rec is not None:
            i_syn = torch.addmm(i_syn, z, w_rec.t())
    z_reset = z.detach() if c.detach_reset else z
    v = torch.sub(pre, z_reset, alpha=c.threshold) if c.reset == "subtract" else pre * (1.0 - z_reset)
    if c.adapt_strength:
        a = a + z
    return LIFState(i_syn, v, a, countdown), LIFStep(z, v_hat, distance, frozen, pre)


def run_lif(drive: Tensor, w_rec: Tensor | None, c: LIFConstants, spike: Callable[[Tensor], Tensor] | None = None,
            detach_every: int | None = None) -> LIFTrajectory:
    """Run the layer on ``drive = W_in x_t`` ``(batch, T, n)`` (the input projection, formed once for all steps).

    ``w_rec``: ``(n, n)`` with a zero diagonal, or ``None``; ``spike``: ``x -> z`` (default
    :func:`spike_with_surrogate`; :func:`smooth_spike` gives the smooth network). Differentiable by
    autograd (surrogate BPTT); under ``torch.no_grad`` it is the plain simulation the rules read.
    ``detach_every = k`` cuts the graph of the state ``(I, v, a)`` at steps ``k, 2k, ...`` (truncated BPTT).
    """
    spike = spike or spike_with_surrogate(c)
    batch, steps, n = drive.shape
    state = lif_initial_state(batch, n, drive)
    out: list[LIFStep] = []
    drives = drive.unbind(1)  # one view per step: indexing drive[:, t] would cost a full-size zero tensor per step in backward
    for t in range(steps):
        if detach_every and t and t % detach_every == 0:
            state = LIFState(state.i_syn.detach(), state.v.detach(), state.a.detach(), state.countdown)
        state, step = lif_step(state, drives[t], w_rec, c, spike)
        out.append(step)
    z, v_hat, distance, frozen, pre = (torch.stack(f, 1) for f in zip(*out))
    return LIFTrajectory(z, v_hat, distance, frozen.to(drive.dtype), pre)


class FusedSurrogateBPTT(torch.autograd.Function):
    """:func:`run_lif`'s spikes with surrogate BPTT written out: one Function for the whole sequence.

    ``forward(drive (batch, T, n), w_rec (n, n) or None, c)`` runs the loop without building a graph (the same
    arithmetic as :func:`run_lif`, so the same spikes, bit for bit) and saves only the spikes, the distances
    ``v^ - A``, the refractory mask (if ``k > 1``) and the membrane the reset acts on (zero reset, differentiated);
    ``backward`` is the adjoint recursion of the module docstring's equations, backwards in time and batched over
    samples (``g`` is ``dL/d`` of the state at the end of step ``t``)::

        g_pre  = g_v (subtract)  or  g_v (1 - z_t) (zero);    g_z += -theta g_v  or  -v_pre g_v  (reset differentiated)
        g_D_t  = g_I (current synapses)  or  g_pre (delta);    g_z += g_D_t W_rec;   g_z += g_a (ALIF)
        g_dist = g_z psi_t;   g_v^ = g_pre + g_dist;   g_a^ = g_a - beta g_dist
        g_v    = alpha g_v^ (g_v^ while refractory);   g_I = alpha_syn g_I + c g_v^ (0 while refractory);   g_a = rho g_a^

    and ``dL/dW_rec = sum_t g_D_t^T z_t`` is one product over all ``batch x T`` rows after the loop, sparse in the
    spikes on CPU when fewer than a fifth of them are 1 (the input weights' gradient, ``g_D^T x``, is autograd's
    backward of the projection formed once outside). The common case (LIF, reset by subtraction detached, no
    refractoriness, either synapse) runs in place on preallocated time-major buffers. It is the same gradient as
    autograd through :func:`run_lif` (tested in float64 to 1e-10), with one ``(batch, n) x (n, n)`` product per step
    backwards instead of autograd's two.
    """

    @staticmethod
    def forward(ctx, drive: Tensor, w_rec: Tensor | None, c: LIFConstants) -> Tensor:  # type: ignore[override]
        batch, steps, n = drive.shape
        ctx.constants = c
        if _compiled(c, drive):  # the same equations in C++, the recurrent input summed over the spikes only
            w_rec_t = drive.new_empty(0) if w_rec is None else w_rec.detach().t().contiguous()
            z_out, dist_all, ctx.spike_index = lif_kernel.compiled().lif_forward(
                drive.detach().contiguous(), w_rec_t, c.alpha_mem, c.alpha_syn, c.coupling, c.threshold, c.synapse == "delta")
            ctx.save_for_backward(z_out, dist_all, w_rec, None, None)
            return z_out
        delta, refractory = c.synapse == "delta", c.refractory_steps > 1
        keep_pre = c.reset == "zero" and not c.detach_reset
        i_syn = v = a = drive.new_zeros((batch, n))
        countdown = torch.zeros((batch, n), dtype=torch.int64, device=drive.device)
        # time-major buffers: each step writes one contiguous (batch, n) block
        z_all, dist_all = drive.new_empty((steps, batch, n)), drive.new_empty((steps, batch, n))
        frozen_all = torch.zeros((steps, batch, n), dtype=torch.bool, device=drive.device) if refractory else None
        pre_all = drive.new_empty((steps, batch, n)) if keep_pre else None
        w_rec_t = None if w_rec is None else w_rec.t()
        drives = drive.unbind(1)
        if _plain_lif(c):  # the common case in place, no allocation per step: the same operations, so the same bits
            v, i_syn = v.clone(), i_syn.clone()
            for t in range(steps):
                if delta:
                    v.mul_(c.alpha_mem)  # v^_t
                else:
                    v.mul_(c.alpha_mem).add_(i_syn, alpha=c.coupling)
                torch.sub(v, c.threshold, out=dist_all[t])
                z = torch.gt(dist_all[t], 0, out=z_all[t])
                target = v.add_(drives[t]) if delta else i_syn.mul_(c.alpha_syn).add_(drives[t])
                if w_rec_t is not None:
                    target.addmm_(z, w_rec_t)
                v.sub_(z, alpha=c.threshold)
            z_out = z_all.transpose(0, 1).contiguous()  # batch-major, as the read-out reads it (and saves it: one copy, not two)
            ctx.save_for_backward(z_out, dist_all, w_rec, None, None)
            return z_out
        for t in range(steps):
            v_hat = c.alpha_mem * v if delta else torch.add(c.alpha_mem * v, i_syn, alpha=c.coupling)
            if refractory:
                countdown = (countdown - 1).clamp_(min=0)
                frozen = torch.gt(countdown, 0, out=frozen_all[t])
                v_hat = torch.where(frozen, v, v_hat)
            distance = v_hat - c.threshold
            if c.adapt_strength:
                a = c.rho_adapt * a
                distance = distance - c.adapt_strength * a
            dist_all[t] = distance
            z = torch.gt(distance, 0, out=z_all[t])
            if refractory:
                z.masked_fill_(frozen, 0.0)
                countdown = torch.where(z > 0, c.refractory_steps, countdown)
            if delta:
                pre = v_hat + drives[t]
                if w_rec_t is not None:
                    pre = torch.addmm(pre, z, w_rec_t)
            else:
                pre = v_hat
                i_syn = c.alpha_syn * i_syn + drives[t]
                if w_rec_t is not None:
                    i_syn = torch.addmm(i_syn, z, w_rec_t)
            v = torch.sub(pre, z, alpha=c.threshold) if c.reset == "subtract" else pre * (1.0 - z)
            if c.adapt_strength:
                a = a + z
            if keep_pre:
                pre_all[t] = pre
        z_out = z_all.transpose(0, 1).contiguous()
        ctx.save_for_backward(z_out, dist_all, w_rec, frozen_all, pre_all)
        return z_out

    @staticmethod
    def backward(ctx, grad_z: Tensor):  # type: ignore[override]
        z_out, dist_all, w_rec, frozen_all, pre_all = ctx.saved_tensors
        c: LIFConstants = ctx.constants
        steps, batch, n = dist_all.shape
        delta, differentiated = c.synapse == "delta", not c.detach_reset
        if _compiled(c, dist_all):  # psi fused into the loop; g_D written batch-major (_gradients' transpose copies nothing)
            w = dist_all.new_empty(0) if w_rec is None else w_rec.detach().contiguous()
            g_drive = lif_kernel.compiled().lif_backward(
                grad_z.contiguous(), dist_all, w, c.alpha_mem, c.alpha_syn, c.coupling, delta,
                lif_kernel.SURROGATE_CODES[c.surrogate], c.surrogate_slope, c.surrogate_scale)
            return FusedSurrogateBPTT._gradients(ctx, g_drive.transpose(0, 1), z_out, w_rec, ctx.spike_index)
        if c.surrogate == "fast_sigmoid":  # scale / (1 + slope |x|)^2 in place on one new tensor
            psi = dist_all.abs().mul_(c.surrogate_slope).add_(1.0).square_().reciprocal_().mul_(c.surrogate_scale)
        else:
            psi = surrogate_derivative(dist_all, c.surrogate, c.surrogate_slope, c.surrogate_scale)
        if frozen_all is not None:
            psi = psi.masked_fill_(frozen_all, 0.0)
        grad_z = grad_z.transpose(0, 1).contiguous()
        g_drive = torch.empty_like(grad_z)
        if _plain_lif(c) and delta:  # in place: g_D_t = g_v (the adjoint of the membrane after the step), grad_z[t] becomes g_dist
            g_v = grad_z.new_zeros((batch, n))
            for t in range(steps - 1, -1, -1):
                g_drive[t] = g_v
                g_z = grad_z[t]
                if w_rec is not None:
                    g_z.addmm_(g_v, w_rec)
                g_v.add_(g_z.mul_(psi[t])).mul_(c.alpha_mem)
            return FusedSurrogateBPTT._gradients(ctx, g_drive, z_out, w_rec)
        if _plain_lif(c):  # in place: g_I_t lives in g_drive[t], grad_z[t] becomes g_dist
            g_v = grad_z.new_zeros((batch, n))
            g_drive[steps - 1].zero_()
            for t in range(steps - 1, -1, -1):
                g_z = grad_z[t]
                if w_rec is not None:
                    g_z.addmm_(g_drive[t], w_rec)
                g_z.mul_(psi[t])
                g_v.add_(g_z)  # g_v^_t
                if t:
                    torch.mul(g_drive[t], c.alpha_syn, out=g_drive[t - 1]).add_(g_v, alpha=c.coupling)
                g_v.mul_(c.alpha_mem)
            return FusedSurrogateBPTT._gradients(ctx, g_drive, z_out, w_rec)
        g_v = g_i = g_a = grad_z.new_zeros((batch, n))
        for t in range(steps - 1, -1, -1):
            g_z = grad_z[t]
            if c.reset == "subtract":
                g_pre = g_v
                if differentiated:
                    g_z = torch.sub(g_z, g_v, alpha=c.threshold)
            else:
                g_pre = g_v * (1.0 - z_out[:, t])
                if differentiated:
                    g_z = g_z - pre_all[t] * g_v
            g_d = g_pre if delta else g_i
            g_drive[t] = g_d
            if w_rec is not None:
                g_z = torch.addmm(g_z, g_d, w_rec)
            if c.adapt_strength:
                g_z = g_z + g_a
            g_dist = g_z * psi[t]
            g_vhat = g_pre + g_dist
            if c.adapt_strength:
                g_a = c.rho_adapt * torch.sub(g_a, g_dist, alpha=c.adapt_strength)
            if frozen_all is not None:
                frozen = frozen_all[t]
                g_v = torch.where(frozen, g_vhat, c.alpha_mem * g_vhat)
                if not delta:
                    g_i = torch.add(c.alpha_syn * g_i, g_vhat.masked_fill(frozen, 0.0), alpha=c.coupling)
            else:
                g_v = c.alpha_mem * g_vhat
                if not delta:
                    g_i = torch.add(c.alpha_syn * g_i, g_vhat, alpha=c.coupling)
        return FusedSurrogateBPTT._gradients(ctx, g_drive, z_out, w_rec)

    @staticmethod
    def _gradients(ctx, g_drive: Tensor, z_out: Tensor, w_rec: Tensor | None, spike_index: Tensor | None = None):
        """``(dL/d drive, dL/dW_rec, None)`` from the time-major adjoints ``g_D`` ``(T, batch, n)``: ``dL/dW_rec =
        sum_(t, b) g_D^T z`` as one matmul over all ``T x batch`` rows, both batch-major. ``spike_index``: the spikes'
        coordinates in ``z_out`` as ``(batch T, n)``, ``(2, nnz)`` row-major (the compiled kernel lists them as it
        runs), instead of finding them with ``to_sparse``."""
        g_drive = g_drive.transpose(0, 1).contiguous()
        n = g_drive.shape[2]
        g_w = None
        if w_rec is not None and ctx.needs_input_grad[1]:
            spikes = z_out.reshape(-1, n)
            if spike_index is not None:  # the same coalesced sparse matrix to_sparse would build
                sparse = torch.sparse_coo_tensor(spike_index, spikes.new_ones(spike_index.shape[1]), spikes.shape,
                                                 is_coalesced=True, check_invariants=False)  # built sorted and in range
            else:
                sparse = None if spikes.is_cuda else spikes.to_sparse()
            if sparse is None or sparse._nnz() > 0.2 * spikes.numel():
                g_w = g_drive.reshape(-1, n).t() @ spikes
            else:  # spikes are mostly zeros: a sparse product visits only the entries that spiked (the same sum, another order)
                g_w = torch.sparse.mm(sparse.t(), g_drive.reshape(-1, n)).t()
        return g_drive, g_w, None


def _plain_lif(c: LIFConstants) -> bool:
    """LIF, reset by subtraction detached, no refractoriness: the fused Function's in-place paths."""
    return not c.adapt_strength and c.refractory_steps <= 1 and c.reset == "subtract" and c.detach_reset


def _compiled(c: LIFConstants, like: Tensor) -> bool:
    """Whether the compiled kernel runs (``kernel = "cpp"``, the plain case, on CPU)."""
    return c.kernel == "cpp" and _plain_lif(c) and like.device.type == "cpu"


def lif_spikes(drive: Tensor, w_rec: Tensor | None, c: LIFConstants) -> Tensor:
    """The spikes ``(batch, T, n)`` of :func:`run_lif` (surrogate spike), differentiated by :class:`FusedSurrogateBPTT`."""
    return FusedSurrogateBPTT.apply(drive, w_rec, c)


def leaky_readout_kernel(steps: int, kappa: float, like: Tensor) -> Tensor:
    """``K[t, s] = kappa^(t - s)`` for ``s <= t``, else 0: ``(T, T)``; ``y = K u`` is ``y_t = kappa y_{t-1} + u_t``."""
    t = torch.arange(steps, device=like.device, dtype=like.dtype)
    lag = t[:, None] - t[None, :]
    return torch.where(lag >= 0, kappa ** lag.clamp(min=0), torch.zeros((), dtype=like.dtype, device=like.device))


def readout_traces(z: Tensor, weight: Tensor, bias: Tensor, kappa: float) -> Tensor:
    """``y_t = kappa y_{t-1} + W_out z_t + b_out``, ``(batch, T, n_out)`` from spikes ``z`` ``(batch, T, n)``."""
    u = z @ weight.t() + bias
    return torch.einsum("ts,bso->bto", leaky_readout_kernel(z.shape[1], kappa, z), u)


# -- the module ---------------------------------------------------------------------------------
class SpikingNet(TorchModel):
    """Thin wrapper holding ``input.weight`` ``(n, n_in)``, ``recurrent.weight`` ``(n, n)`` (if recurrent) and
    the leaky ``readout`` (``weight`` ``(n_out, n)``, ``bias`` ``(n_out,)``).

    ``forward(x)``: ``x`` ``(batch, T, n_in)`` (spikes or currents, added to ``I``, or to ``v`` with delta synapses) to
    ``(batch, T, n_out)`` read-out traces (``output = "trace"``) or ``(batch, n_out)`` class scores: their time average
    (``mean``), their maximum over time (``max_membrane``) or the spike counts of spiking read-out units (``spike_count``).
    Its gradient, :meth:`reference_gradient`, is surrogate-gradient BPTT (the gradient of a surrogate, not of the
    spiking loss), through :class:`FusedSurrogateBPTT`.
    """

    def __init__(self, spec: SpikingSpec, generator: torch.Generator | None = None):
        super().__init__()
        self.spec = spec
        self.capabilities = spiking_capabilities(spec)
        self.constants = lif_constants(spec)
        if spec.kernel == "cpp":
            lif_kernel.compiled(f"model '{spec.name}'")  # built (or loaded from the cache) now, before any training: a failure is one error up front
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        n, m, dtype = spec.n_hidden, spec.n_in, spec.torch_dtype
        w_in = torch.randn((n, m), generator=g, dtype=torch.float64) * (spec.input_scale / math.sqrt(m))
        self.input = nn.ParameterDict({"weight": nn.Parameter(w_in.to(dtype))})
        if spec.recurrent:
            w_rec = torch.randn((n, n), generator=g, dtype=torch.float64) * (spec.recurrent_gain / math.sqrt(n))
            self.recurrent = nn.ParameterDict({"weight": nn.Parameter(w_rec.fill_diagonal_(0.0).to(dtype))})
            self.register_buffer("no_self", 1.0 - torch.eye(n, dtype=dtype))
        self.readout = nn.Linear(n, spec.n_out, dtype=dtype)
        with torch.no_grad():
            self.readout.weight.copy_(torch.randn((spec.n_out, n), generator=g, dtype=torch.float64) / math.sqrt(n))
            self.readout.bias.zero_()

    @property
    def w_in(self) -> Tensor:
        return self.input["weight"]

    @property
    def w_rec(self) -> Tensor | None:
        """``W_rec`` with its diagonal masked to zero (no self-connections), or ``None``."""
        return self.recurrent["weight"] * self.no_self if self.spec.recurrent else None

    def trajectory(self, x: Tensor, spike: Callable[[Tensor], Tensor] | None = None, detach_every: int | None = None) -> LIFTrajectory:
        """The spiking layer's run on ``x`` ``(batch, T, n_in)`` (with autograd unless called under no_grad;
        ``detach_every``: see :func:`run_lif`)."""
        x = x.to(self.w_in.dtype)
        return run_lif(x @ self.w_in.t(), self.w_rec, self.constants, spike, detach_every)

    def spikes(self, x: Tensor, spike: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """The hidden spikes ``(batch, T, n)``; with the surrogate spike differentiated by :class:`FusedSurrogateBPTT`
        (the hand-written adjoint), with another ``spike`` (e.g. :func:`smooth_spike`) by autograd through :func:`run_lif`."""
        x = x.to(self.w_in.dtype)
        if spike is None:
            return lif_spikes(x @ self.w_in.t(), self.w_rec, self.constants)
        return self.trajectory(x, spike).z

    def output_of(self, traces: Tensor) -> Tensor:
        """The model's output from leaky read-out traces ``(batch, T, n_out)``: the traces, their time average or their
        maximum over time (not for ``spike_count``, whose read-out units spike: :meth:`readout_output`)."""
        if self.spec.output == "trace":
            return traces
        return traces.mean(1) if self.spec.output == "mean" else traces.max(1).values

    def readout_output(self, z: Tensor, spike: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        """The model's output from hidden spikes ``z`` ``(batch, T, n)``, differentiable in the read-out's parameters
        (and in ``z``). ``spike_count``: the read-out units are LIF neurons of the hidden layer's kind without adaptation
        or recurrence, driven by ``W_out z_t + b_out`` (added to their synaptic current, or to their membrane with delta
        synapses, every step); the output is their spike count ``(batch, n_out)``, differentiated through their surrogate."""
        w_out, b_out = self.readout.weight, self.readout.bias
        if self.spec.output != "spike_count":
            return self.output_of(readout_traces(z, w_out, b_out, self.constants.kappa))
        drive, c = z @ w_out.t() + b_out, self.constants._replace(adapt_strength=0.0)
        z_out = lif_spikes(drive, None, c) if spike is None else run_lif(drive, None, c, spike).z
        return z_out.sum(1)

    def forward(self, x: Tensor, spike: Callable[[Tensor], Tensor] | None = None) -> Tensor:
        return self.readout_output(self.spikes(x, spike), spike)

    @torch.no_grad()
    def hidden_states(self, x: Tensor) -> dict[str, Tensor]:
        """``{"hidden": spike counts (batch, n)}`` of the spiking layer (for representation_cka)."""
        return {"hidden": self.trajectory(x).z.sum(1)}


def _check_task(spec: SpikingSpec, task) -> str | None:
    if task.n_in != spec.n_in or task.n_out != spec.n_out:
        return (f"model '{spec.name}' has n_in={spec.n_in}, n_out={spec.n_out} but task '{task.name}' "
                f"has n_in={task.n_in}, n_out={task.n_out}.")
    if spec.output == "trace" and getattr(task, "sequence", False) is not True:
        return (f"model '{spec.name}' has output = 'trace' (a read-out at every step), which needs a sequence task with "
                f"targets over time; task '{task.name}' is not one (use output = 'mean' for a classification of spike trains).")
    if spec.output != "trace" and not (task.kind == "classification" and getattr(task, "temporal", False)):
        return (f"model '{spec.name}' has output = '{spec.output}' (class scores), which needs a classification "
                f"task whose inputs are sequences (batch, T, n_in), such as tasks.YinYangSpikes; task '{task.name}' is not one.")
    return None


def spiking_capabilities(spec: SpikingSpec) -> frozenset[str]:
    """``spiking:leaky_readout`` unless the read-out units spike (``output = "spike_count"``): the rules that send the
    read-out's error ``dE/dy_t`` to the hidden neurons (e-prop, spiking DFA) need ``y_t`` linear in the spikes."""
    leaky = spec.output != "spike_count"
    return frozenset({"torch", "spiking:torch"} | ({"spiking:leaky_readout"} if leaky else set()))


KIND = ModelKind(
    name="spiking_torch",
    spec_type=SpikingSpec,
    from_dict=spiking_spec_from_dict,
    build=lambda spec, generator: SpikingNet(spec, generator),
    check_task=_check_task,
    capabilities=spiking_capabilities,
    prepare=lambda spec: lif_kernel.compiled(f"model '{spec.name}'") if spec.kernel == "cpp" else None,
)
