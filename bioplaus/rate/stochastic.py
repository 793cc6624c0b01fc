"""A network with a layer of stochastic binary units (a one-layer sigmoid belief net with a linear read-out).

``p = sigmoid(W_1 x + b_1)`` ``(batch, n_hidden)`` are firing probabilities; the hidden units
are ``h ~ Bernoulli(p)``, independent given ``x``; the output is ``W_2 h + b_2`` ``(batch, n_out)``.
The model's loss is the **expected** loss ``E_h[L(W_2 h + b_2, y)]`` (mean over the batch), the
objective of a stochastic computation graph (Schulman et al. 2015; Weber et al. 2019). With at
most :data:`MAX_HIDDEN` hidden units its exact value and gradient are sums over all ``2^n``
hidden states (enumeration, no sampling): :meth:`StochasticBinaryNet.reference_gradient`.
There is no reparameterised gradient for Bernoulli units, so enumeration is the reference.

``forward(x)`` is the mean-field output ``W_2 p + b_2`` = ``E_h[output]`` (exact, since the
read-out is linear): what evaluation uses for test loss and accuracy. The recorded ``loss``
is therefore the loss of the expected output, a lower bound of the expected loss for a convex loss.

Two spec fields serve estimator toy problems (``models/relax_toy.toml``): ``readout = "identity"`` makes the
output the hidden state itself (``n_out = n_hidden``, no read-out parameters), so the loss is a fixed function
``f(h)`` of the stochastic units and only their logits learn; ``lr_scale`` multiplies the run's learning rate
for this model's parameters (``0``: learning off, while the rule still runs and measures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from bioplaus.core import Batch, TorchModel
from bioplaus.errors import BioplausError, allowed
from bioplaus.model_kind import ModelKind, check_fields, spec_dict

#: enumeration of 2^n hidden states is the reference gradient: keep it cheap
MAX_HIDDEN = 16


@dataclass(frozen=True)
class StochasticSpec:
    """``n_in -> n_hidden`` Bernoulli units ``-> n_out`` linear read-out; weights ``N(0, init_scale^2 / fan_in)``, biases 0."""

    name: str
    n_in: int
    n_hidden: int
    n_out: int
    init_scale: float = 1.0
    readout: str = "linear"
    lr_scale: float = 1.0
    description: str = ""
    kind: str = "stochastic"

    def to_dict(self) -> dict[str, Any]:
        """The fields, without ``readout`` and ``lr_scale`` at their defaults (so the config hashes of specs written
        before those fields existed are unchanged)."""
        d = spec_dict(self)
        if d["readout"] == "linear":
            del d["readout"]
        if d["lr_scale"] == 1:
            del d["lr_scale"]
        return d


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "kind": (str, "a string"), "name": (str, "a string"), "description": (str, "a string"),
    "n_in": (int, "a positive integer"), "n_hidden": (int, f"an integer from 1 to {MAX_HIDDEN}"),
    "n_out": (int, "a positive integer"), "init_scale": ((int, float), "a positive number"),
    "readout": (str, "'linear' or 'identity'"), "lr_scale": ((int, float), "a non-negative number"),
}

#: the read-outs a stochastic model can have
READOUTS = ("linear", "identity")


def stochastic_spec_from_dict(data: dict[str, Any], source: str, default_name: str) -> StochasticSpec:
    """Validate a parsed TOML table; errors name ``source``, the field and what is allowed."""
    check_fields(data, _FIELDS, source, "a stochastic model spec", required=("n_in", "n_hidden", "n_out"))
    for key in ("n_in", "n_hidden", "n_out"):
        if data[key] < 1:
            raise BioplausError(f"{source}: field '{key}' must be a positive integer, got {data[key]!r}.")
    if data["n_hidden"] > MAX_HIDDEN:
        raise BioplausError(f"{source}: field 'n_hidden' is {data['n_hidden']}, but the exact gradient enumerates all "
                            f"2^n_hidden hidden states, so at most {MAX_HIDDEN} stochastic units are allowed.")
    if not data.get("init_scale", 1.0) > 0:
        raise BioplausError(f"{source}: field 'init_scale' must be a positive number, got {data['init_scale']!r}.")
    if data.get("readout", "linear") not in READOUTS:
        raise BioplausError(f"{source}: field 'readout' is {data['readout']!r}; allowed values are {allowed(READOUTS)}.")
    if data.get("readout") == "identity" and data["n_out"] != data["n_hidden"]:
        raise BioplausError(f"{source}: field 'readout' is 'identity', so 'n_out' must equal 'n_hidden' "
                            f"({data['n_hidden']}), got {data['n_out']}.")
    if not data.get("lr_scale", 1.0) >= 0:
        raise BioplausError(f"{source}: field 'lr_scale' must be a non-negative number, got {data['lr_scale']!r}.")
    return StochasticSpec(**{"name": default_name, **data})


def binary_states(n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """All ``2^n`` binary vectors ``(2^n, n)``."""
    codes = torch.arange(2**n).unsqueeze(1)
    return ((codes >> torch.arange(n)) & 1).to(dtype)


def bernoulli_log_prob(h: Tensor, logits: Tensor) -> Tensor:
    """``log p(h)`` summed over units for independent Bernoulli units with ``logit(p) = logits``; broadcasts."""
    h, logits = torch.broadcast_tensors(h, logits)
    return -nn.functional.binary_cross_entropy_with_logits(logits, h, reduction="none").sum(-1)


def per_example_loss(loss_fn: Callable[[Tensor, Tensor], Tensor], output: Tensor, y: Tensor) -> Tensor:
    """Each example's loss ``(batch,)`` from a batch-mean ``loss_fn``, evaluated one example at a time (vmapped)."""
    return torch.vmap(lambda o, t: loss_fn(o.unsqueeze(0), t.unsqueeze(0)))(output, y)


class StochasticBinaryNet(TorchModel):
    """The stochastic-unit network of the module docstring; parameters ``layers.hidden1.*`` and ``layers.output.*``."""

    def __init__(self, spec: StochasticSpec, generator: torch.Generator | None = None):
        super().__init__()
        self.spec = spec
        self.layers = nn.ModuleDict({"hidden1": nn.Linear(spec.n_in, spec.n_hidden)})
        if spec.readout == "linear":
            self.layers["output"] = nn.Linear(spec.n_hidden, spec.n_out)
        with torch.no_grad():
            for layer in self.layers.values():
                fan_in = layer.weight.shape[1]
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator, dtype=torch.float64)
                                   * spec.init_scale / fan_in**0.5)
                layer.bias.zero_()

    capabilities = frozenset({"torch", "stochastic_units"})

    def logits(self, x: Tensor) -> Tensor:
        """``W_1 x + b_1`` ``(batch, n_hidden)``: the hidden units' firing log-odds."""
        return self.layers["hidden1"](x)

    def readout(self, h: Tensor) -> Tensor:
        """``W_2 h + b_2`` for hidden states ``h`` ``(..., n_hidden)`` (``h`` itself for the identity read-out)."""
        return self.layers["output"](h) if "output" in self.layers else h

    def optimizer_groups(self, kwargs: dict) -> tuple[list, dict]:
        """The run's optimizer over all parameters, at ``lr_scale`` times the run's ``lr`` (``0``: learning off)."""
        if self.spec.lr_scale == 1:
            return list(self.parameters()), kwargs
        return [{"params": list(self.parameters()), "lr": kwargs.get("lr", 1e-3) * self.spec.lr_scale}], kwargs

    def sample(self, x: Tensor, generator: torch.Generator, draws: int | None = None) -> tuple[Tensor, Tensor]:
        """Hidden states ``h ~ Bernoulli(p)`` ``(batch, n_hidden)``, or ``(draws, batch, n_hidden)`` independent ones,
        and their probabilities ``p`` ``(batch, n_hidden)``."""
        p = torch.sigmoid(self.logits(x))
        shape = p.shape if draws is None else (draws, *p.shape)
        u = torch.rand(shape, generator=generator, dtype=p.dtype).to(p.device)
        return (u < p).to(p.dtype), p

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(torch.sigmoid(self.logits(x)))

    def expected_loss(self, batch: Batch) -> Tensor:
        """``mean_b sum_h p(h | x_b) L(W_2 h + b_2, y_b)`` by enumerating the ``2^n`` states (differentiable)."""
        states = binary_states(self.spec.n_hidden, self.layers["hidden1"].weight.dtype).to(batch.x.device)  # (S, n)
        log_p = bernoulli_log_prob(states.unsqueeze(0), self.logits(batch.x).unsqueeze(1))  # (B, S)
        out = self.readout(states)  # (S, n_out)
        n, s = batch.x.shape[0], states.shape[0]
        losses = per_example_loss(batch.loss_fn, out.unsqueeze(0).expand(n, -1, -1).reshape(n * s, -1),
                                  batch.y.repeat_interleave(s, 0)).reshape(n, s)
        return (log_p.exp() * losses).sum(1).mean()

    def reference_gradient(self, batch: Batch) -> dict[str, Tensor]:
        """The exact gradient of :meth:`expected_loss`, keyed like ``named_parameters()``."""
        params = dict(self.named_parameters())
        return dict(zip(params, torch.autograd.grad(self.expected_loss(batch), list(params.values()))))


def _check_task(spec: StochasticSpec, task) -> str | None:
    if spec.n_in != task.n_in or spec.n_out != task.n_out:
        return (f"model '{spec.name}' maps {spec.n_in} -> {spec.n_out} units but task "
                f"'{task.name}' has {task.n_in} inputs and {task.n_out} outputs.")
    return None


KIND = ModelKind(
    name="stochastic",
    spec_type=StochasticSpec,
    from_dict=stochastic_spec_from_dict,
    build=lambda spec, generator: StochasticBinaryNet(spec, generator),
    check_task=_check_task,
    capabilities=lambda spec: frozenset({"torch", "stochastic_units"}),
)
