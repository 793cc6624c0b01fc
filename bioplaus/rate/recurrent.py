"""Leaky vanilla recurrent rate networks and the pure functions of their dynamics.

The network (Marschall, Cho & Savin 2020, JMLR 21:135, eq. 1, with leak ``alpha``)::

    z_t = [h_{t-1}; x_t; 1]                       presynaptic vector, (batch, n + m + 1)
    a_t = W z_t,  W = [W_rec  W_in  b]             pre-activation, (batch, n)
    h_t = (1 - alpha) h_{t-1} + alpha phi(a_t)     state, (batch, n); h_0 = 0
    y_t = W_out h_t + b_out                        linear read-out, (batch, n_out)

All recurrent parameters live in one matrix ``W`` of shape ``(n, n + m + 1)``, the
parameter ``recurrent.weight``; the read-out is ``readout.weight`` / ``readout.bias``.
Keeping ``W`` whole is what makes the influence matrix ``M_t = dh_t/dW`` (Williams &
Zipser 1989) a ``(batch, n, n, n + m + 1)`` tensor and its Kronecker factorisation
(Mujika et al. 2018) ``M_t[k, i, j] ~ A_t[k, i] u_t[j]`` natural.

The rules in :mod:`bioplaus.rules` call the pure functions of the dynamics here:

- :func:`rnn_step`: one step of the dynamics;
- :func:`run_rnn`: a whole batch of sequences, keeping the trajectory.

The influence-matrix maths the temporal credit-assignment rules carry (RTRL's
``M_t = D_t M_{t-1} + Mbar_t`` and its fused form) is theirs: :mod:`bioplaus.rules.influence`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from bioplaus.core import TorchModel
from bioplaus.errors import BioplausError, allowed
from bioplaus.model_kind import ModelKind, check_fields
from bioplaus.rate.feedforward import activate, activation_slope
from bioplaus.rate.lstm import lstm_states

CELLS = ("vanilla", "lstm", "influence_balancing")
RECURRENT_ACTIVATIONS = ("tanh", "linear", "relu", "sigmoid")
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class RecurrentSpec:
    """A leaky vanilla RNN with a linear read-out.

    Attributes:
        n_in, n_hidden, n_out: input channels ``m``, recurrent units ``n``, outputs.
        alpha: leak, ``dt / tau`` in ``(0, 1]``; ``alpha = 1`` is the plain Elman RNN.
        activation: ``phi``, one of ``RECURRENT_ACTIVATIONS``.
        recurrent_gain: ``W_rec ~ N(0, g^2 / n)`` (``g = 1``: the edge of chaos for tanh).
        input_scale: ``W_in ~ N(0, s^2 / m)``; ``b = 0``; ``W_out ~ N(0, 1 / n)``, ``b_out = 0``.
        dtype: ``float64`` (default: comparisons with exact gradients) or ``float32``.
        cell: ``vanilla`` (the equations above) or ``lstm`` (:mod:`bioplaus.rate.lstm`; ``alpha`` and
            ``activation`` do not apply), whose ``k_att`` (memory every ``k_att`` steps, 0: none) and
            ``k_top`` (memories attended per step) give Ke et al. (2018)'s sparse attentive memory;
            or ``influence_balancing`` (Tallec & Ollivier 2018, Sec. 5): a vanilla cell whose weights are
            fixed, ``W_rec = A`` (1/2 on the diagonal and the superdiagonal), ``W_in = 0``, read-out
            ``y = h[0]``, and whose only parameter is one scalar ``theta`` acting through the bias
            ``b = theta s`` with ``s_i = +1`` for the first ``n_positive`` units and ``-1`` for the rest:
            ``theta`` pushes ``h[0]`` up in the short term and down in the long term.
        n_positive: the units with a positive sign (``influence_balancing`` only).
    """

    name: str
    n_in: int
    n_hidden: int
    n_out: int
    cell: str = "vanilla"
    alpha: float = 1.0
    activation: str = "tanh"
    recurrent_gain: float = 1.0
    input_scale: float = 1.0
    dtype: str = "float64"
    k_att: int = 0
    k_top: int = 0
    n_positive: int = 0
    description: str = ""
    kind: str = "recurrent"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "kind": (str, "a string"),
    "name": (str, "a string"),
    "description": (str, "a string"),
    "cell": (str, "a string"),
    "n_in": (int, "a positive integer"),
    "n_hidden": (int, "a positive integer"),
    "n_out": (int, "a positive integer"),
    "alpha": ((int, float), "a number in (0, 1]"),
    "activation": (str, "a string"),
    "recurrent_gain": ((int, float), "a non-negative number"),
    "input_scale": ((int, float), "a non-negative number"),
    "dtype": (str, "a string"),
    "k_att": (int, "a non-negative integer"),
    "k_top": (int, "a non-negative integer"),
    "n_positive": (int, "a non-negative integer"),
}


def recurrent_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> RecurrentSpec:
    """Validate a parsed TOML table; errors name ``source``, the field, the value and what is allowed."""

    def fail(field: str, msg: str) -> BioplausError:
        return BioplausError(f"{source}: field '{field}' {msg}")

    check_fields(data, _FIELDS, source, "a recurrent model spec", required=("n_in", "n_hidden", "n_out"))
    for required in ("n_in", "n_hidden", "n_out"):
        if data[required] < 1:
            raise fail(required, f"must be a positive integer, got {data[required]!r}.")
    choices = {"cell": CELLS, "activation": RECURRENT_ACTIVATIONS, "dtype": DTYPES}
    for key, values in choices.items():
        if key in data and data[key] not in values:
            raise fail(key, f"is {data[key]!r}; allowed values are {allowed(values)}.")
    alpha = float(data.get("alpha", 1.0))
    if not 0.0 < alpha <= 1.0:
        raise fail("alpha", f"must be in (0, 1], got {alpha!r}.")
    for key in ("recurrent_gain", "input_scale"):
        if float(data.get(key, 1.0)) < 0:
            raise fail(key, f"must be a non-negative number, got {data[key]!r}.")
    for key in ("k_att", "k_top"):
        if data.get(key, 0) < 0:
            raise fail(key, f"must be a non-negative integer, got {data[key]!r}.")
        if data.get(key, 0) and data.get("cell", "vanilla") != "lstm":
            raise fail(key, f"is {data[key]!r} but the sparse attentive memory needs cell = 'lstm'; allowed values for a vanilla cell are 0.")
    if data.get("n_positive", 0):
        if data.get("cell", "vanilla") != "influence_balancing":
            raise fail("n_positive", "applies only to cell = 'influence_balancing'.")
        if not 0 <= data["n_positive"] <= data["n_hidden"]:
            raise fail("n_positive", f"must be between 0 and n_hidden = {data['n_hidden']}, got {data['n_positive']!r}.")
    if (data.get("k_att", 0) == 0) != (data.get("k_top", 0) == 0):
        raise fail("k_top", "and 'k_att' must both be positive (memory with attention) or both 0 (none).")
    return RecurrentSpec(
        name=data.get("name", default_name),
        n_in=data["n_in"], n_hidden=data["n_hidden"], n_out=data["n_out"],
        cell=data.get("cell", "vanilla"), alpha=alpha, activation=data.get("activation", "tanh"),
        recurrent_gain=float(data.get("recurrent_gain", 1.0)), input_scale=float(data.get("input_scale", 1.0)),
        dtype=data.get("dtype", "float64"), k_att=data.get("k_att", 0), k_top=data.get("k_top", 0),
        n_positive=data.get("n_positive", 0),
        description=data.get("description", ""),
    )


# -- the pure functions ------------------------------------------------------------------
class Trajectory(NamedTuple):
    """A batch of sequences run forward.

    ``h``: states ``(batch, T + 1, n)`` with ``h[:, 0] = h_0`` (zero at a sequence's start); ``a``: pre-activations
    ``(batch, T, n)``; ``z``: presynaptic vectors ``[h_{t-1}; x_t; 1]``, ``(batch, T, n + m + 1)``;
    ``slope``: ``alpha phi'(a_t)``, ``(batch, T, n)`` (the diagonal of ``dh_t/da_t``).
    """

    h: Tensor
    a: Tensor
    z: Tensor
    slope: Tensor


def presynaptic(h: Tensor, x: Tensor) -> Tensor:
    """``z = [h; x; 1]``: ``(batch, n + m + 1)`` from ``h`` ``(batch, n)`` and ``x`` ``(batch, m)``."""
    return torch.cat([h, x, torch.ones_like(h[:, :1])], dim=1)


def rnn_step(h: Tensor, x: Tensor, w: Tensor, alpha: float, activation: str) -> tuple[Tensor, Tensor]:
    """One step ``h' = (1 - alpha) h + alpha phi(W [h; x; 1])``; returns ``(h', a)``, both ``(batch, n)``."""
    a = presynaptic(h, x) @ w.t()
    return (1.0 - alpha) * h + alpha * activate(activation, a), a


def run_rnn(w: Tensor, x: Tensor, alpha: float, activation: str, noise: Tensor | None = None,
            h0: Tensor | None = None) -> Trajectory:
    """Run sequences ``x`` ``(batch, T, m)`` from ``h_0`` (zero unless given, ``(batch, n)``) without building a graph.

    ``noise`` ``(batch, T, n)``, if given, is added to each new state: ``h_t = F(h_{t-1}, x_t) + noise_t``
    (the state noise of REINFORCE-as-RTRL).
    """
    with torch.no_grad():
        batch, steps, _ = x.shape
        n = w.shape[0]
        h = x.new_zeros((batch, n)) if h0 is None else h0
        hs, as_, zs, slopes = [h], [], [], []
        for t in range(steps):
            z = presynaptic(h, x[:, t])
            a = z @ w.t()
            f = activate(activation, a)
            slopes.append(alpha * activation_slope(activation, a, f))
            h = (1.0 - alpha) * h + alpha * f
            if noise is not None:
                h = h + noise[:, t]
            hs.append(h)
            as_.append(a)
            zs.append(z)
        return Trajectory(torch.stack(hs, 1), torch.stack(as_, 1), torch.stack(zs, 1), torch.stack(slopes, 1))


# -- the module ----------------------------------------------------------------------------
class RecurrentNet(TorchModel):
    """Thin wrapper holding ``recurrent.weight`` ``(n, n + m + 1)`` (``(4n, n + m + 1)`` for an LSTM) and the linear ``readout``.

    ``forward(x)`` maps ``(batch, T, m)`` inputs to ``(batch, T, n_out)`` outputs with autograd
    through time (this is what BPTT differentiates).
    """

    def __init__(self, spec: RecurrentSpec, generator: torch.Generator | None = None):
        super().__init__()
        self.spec = spec
        self.capabilities = recurrent_capabilities(spec)
        n, m = spec.n_hidden, spec.n_in
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        rows = 4 * n if spec.cell == "lstm" else n
        w_rec = torch.randn((rows, n), generator=g, dtype=torch.float64) * (spec.recurrent_gain / math.sqrt(n))
        w_in = torch.randn((rows, m), generator=g, dtype=torch.float64) * (spec.input_scale / math.sqrt(m))
        b = torch.zeros((rows, 1), dtype=torch.float64)
        if spec.cell == "lstm":
            b[n : 2 * n] = 1.0  # forget-gate bias 1 (Gers et al. 2000)
        w = torch.cat([w_rec, w_in, b], 1)
        readout = torch.randn((spec.n_out, n), generator=g, dtype=torch.float64) / math.sqrt(n)
        if spec.cell == "influence_balancing":
            w, readout = self._influence_balancing(spec)
        self.recurrent = nn.ParameterDict({"weight": nn.Parameter(w.to(spec.torch_dtype))})
        self.readout = nn.Linear(n, spec.n_out, dtype=spec.torch_dtype)
        with torch.no_grad():
            self.readout.weight.copy_(readout)
            self.readout.bias.zero_()

    @staticmethod
    def _influence_balancing(spec: RecurrentSpec, theta: float = 0.5) -> tuple[Tensor, Tensor]:
        n, m = spec.n_hidden, spec.n_in
        a = 0.5 * (torch.eye(n, dtype=torch.float64) + torch.diag(torch.ones(n - 1, dtype=torch.float64), 1))
        b = theta * influence_signs(spec)[:, None]
        readout = torch.zeros((spec.n_out, n), dtype=torch.float64)
        readout[:, 0] = 1.0
        return torch.cat([a, torch.zeros((n, m), dtype=torch.float64), b], 1), readout

    def project(self, estimate: dict[str, Tensor]) -> dict[str, Tensor]:
        """For ``influence_balancing``: keep only the ``theta`` direction of an estimate
        (``d/d theta = s . dL/db``, applied to ``b`` as ``s d/d theta``); other cells: unchanged."""
        if self.spec.cell != "influence_balancing":
            return estimate
        s = influence_signs(self.spec).to(self.w)
        out = {k: torch.zeros_like(v) for k, v in estimate.items()}
        out["recurrent.weight"][:, -1] = s * (s * estimate["recurrent.weight"][:, -1]).sum()
        return out

    @property
    def n_hidden(self) -> int:
        return self.spec.n_hidden

    @property
    def alpha(self) -> float:
        return self.spec.alpha

    @property
    def activation(self) -> str:
        return self.spec.activation

    @property
    def w(self) -> Tensor:
        return self.recurrent["weight"]

    @property
    def w_rec(self) -> Tensor:
        """The recurrent block ``W[:, :n]`` (a view)."""
        return self.w[:, : self.spec.n_hidden]

    def states(self, x: Tensor, detach_every: int | None = None) -> Tensor:
        """States ``h_1..h_T`` ``(batch, T, n)`` with autograd; ``detach_every = k`` cuts the graph
        at ``h_0, h_k, h_2k, ...`` (truncated BPTT over non-overlapping windows)."""
        x = x.to(self.w.dtype)
        if self.spec.cell == "lstm":
            return lstm_states(self.w, x, self.spec.k_att, self.spec.k_top, detach_every)
        h = x.new_zeros((x.shape[0], self.spec.n_hidden))
        out = []
        for t in range(x.shape[1]):
            if detach_every is not None and t % detach_every == 0:
                h = h.detach()
            h, _ = rnn_step(h, x[:, t], self.w, self.spec.alpha, self.spec.activation)
            out.append(h)
        return torch.stack(out, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.states(x))

    def history_gradient(self, batch, history: list[tuple[int, Tensor]], length: int) -> dict[str, Tensor]:
        """The exact gradient of the loss of the last window of ``history`` (``length`` steps) by BPTT through
        the parameter history: ``history[v] = (t_v, W_v)``, the window starting at step ``t_v`` ran with
        ``W_v``; the gradient with respect to ``W`` sums the paths through every ``W_v`` (the derivative
        online RTRL approximates when parameters change during a sequence). Read-out: the model's own.
        Vanilla and influence-balancing cells only.
        """
        x = batch.x.to(self.w.dtype)
        leaves = [w.clone().requires_grad_(True) for _, w in history]
        bounds = [t for t, _ in history[1:]] + [history[-1][0] + length]
        h = x.new_zeros((x.shape[0], self.n_hidden))
        t, outs = 0, []
        for leaf, end in zip(leaves, bounds):
            while t < end:
                h, _ = rnn_step(h, x[:, t], leaf, self.alpha, self.activation)
                if leaf is leaves[-1]:
                    outs.append(h)
                t += 1
        start = history[-1][0]
        loss = batch.loss_fn(self.readout(torch.stack(outs, 1)), batch.y[:, start : start + length])
        grads = torch.autograd.grad(loss, leaves + [self.readout.weight, self.readout.bias])
        return {"recurrent.weight": torch.stack(grads[:-2]).sum(0), "readout.weight": grads[-2], "readout.bias": grads[-1]}


def influence_signs(spec: RecurrentSpec) -> Tensor:
    """``s``: ``+1`` for the first ``n_positive`` units, ``-1`` for the others (float64, ``(n,)``)."""
    s = -torch.ones(spec.n_hidden, dtype=torch.float64)
    s[: spec.n_positive] = 1.0
    return s


def _check_task(spec: RecurrentSpec, task) -> str | None:
    if getattr(task, "sequence", False) is not True:
        return f"a recurrent model needs a sequence task (copy, delayed recall, adding), got {task.name!r}."
    if task.n_in != spec.n_in or task.n_out != spec.n_out:
        return (f"model '{spec.name}' has n_in={spec.n_in}, n_out={spec.n_out} but task '{task.name}' "
                f"has n_in={task.n_in}, n_out={task.n_out}.")
    return None


def recurrent_capabilities(spec: RecurrentSpec) -> frozenset[str]:
    caps = {"torch", "recurrent"}
    if spec.cell != "lstm":
        caps.add("recurrent:influence")
    elif spec.k_att > 0 and spec.k_top > 0:
        caps.add("recurrent:sparse_attention")
    return frozenset(caps)


KIND = ModelKind(
    name="recurrent",
    spec_type=RecurrentSpec,
    from_dict=recurrent_spec_from_dict,
    build=lambda spec, generator: RecurrentNet(spec, generator),
    check_task=_check_task,
    capabilities=recurrent_capabilities,
)
