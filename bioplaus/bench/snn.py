"""``bioplaus bench snn``: training throughput and memory of a spiking network in torch, surrogate BPTT and e-prop.

The network of issue 17: 100 Poisson inputs (5 % spike probability per step), 256 recurrent
current-based LIF neurons, 10 read-out units averaged over 100 steps of 1 ms, batch 64,
float32, cross-entropy. Each variant is one training step (gradient, then an SGD step),
timed alternating with the others, each call alone (:func:`bioplaus.bench.timing.alternating`,
process CPU time):

- ``surrogate_bptt``: the model's ``reference_gradient`` (the input projection formed once for all steps, then
  :class:`bioplaus.snn.lif.FusedSurrogateBPTT`: the loop without a graph and the hand-written adjoint);
- ``surrogate_bptt (cpp kernel)`` (only when the kernel compiles here): the same model with ``kernel = "cpp"``
  (:mod:`bioplaus.snn.lif_kernel`: the forward loop in C++ summing the recurrent input over the neurons that spiked
  only, the backward loop in C++ around one dense product per step), its ratio given as plain loop / this (issue 17's
  target: >= 1.5);
- ``surrogate_bptt (autograd)``: the same gradient by autograd through :func:`bioplaus.snn.lif.run_lif` (the
  reference before the fused Function);
- ``plain torch loop``: what a user writes the obvious way, for comparison: the input projection inside
  the time loop, a custom autograd Function for the spike (the same fast-sigmoid surrogate), autograd
  through time; the same dynamics;
- ``snntorch`` (when snnTorch is installed; ``pip install snntorch``, never imported outside this file):
  ``snn.RSynaptic`` neurons (recurrent, all-to-all) with snnTorch's fast-sigmoid surrogate (slope 10), fed by an
  ``nn.Linear`` of the inputs, stepped as its documentation shows. **Not the same model**: snnTorch's
  second-order neuron is ``I[t+1] = alpha I[t] + W x[t+1] + V s[t]``, ``U[t+1] = beta U[t] + I[t+1] - s U_thr``
  (the current enters the membrane undelayed and unscaled, the recurrent spikes a step later), bioplaus
  integrates the ODE exactly (the coupling ``c`` and Brian2's order); the decays are the same
  (``alpha = exp(-1/5)``, ``beta = exp(-1/20)``), so the cost per step is comparable, not the spikes;
- ``spiking_eprop``: the rule's estimate (a forward run without a graph, then the presynaptic shortcut: the
  membrane's eligibility per sample and input, the read-out filter moved onto the learning signal);
- ``forward (no graph)``: one run of the network without autograd, the unit of e-prop's ratio.

Samples per second are ``64 / (median seconds per step)``; ratios are per repetition (median, range).

Memory against sequence length (deterministic, batch 8, same network with a read-out at every step):
what each gradient keeps for its backward pass, the bytes of every tensor autograd saves
(``torch.autograd.graph.saved_tensors_hooks``, counted once per tensor storage), for the fused and the autograd
BPTT; the trajectory the offline e-prop stores (the :class:`~bioplaus.snn.lif.LIFTrajectory`); and the
state online e-prop carries from step to step (``SpikingEProp(online=True).state_bytes``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import statistics

import torch
import torch.nn.functional as F

from bioplaus.bench.timing import alternating, machine, ratio_stats
from bioplaus.core import Batch
from bioplaus.tasks.sequence import sequence_squared_error
from bioplaus.rules.spiking_eprop import SpikingEProp
from bioplaus.snn import lif_kernel
from bioplaus.snn.lif import SpikingNet, SpikingSpec, readout_traces

N_IN, N_HIDDEN, N_OUT, STEPS, BATCH = 100, 256, 10, 100, 64
MEMORY_BATCH, MEMORY_STEPS = 8, (100, 200, 400, 800)


class _FastSigmoidSpike(torch.autograd.Function):
    """The plain loop's spike: Heaviside forward, ``1 / (1 + slope |x|)^2`` backward."""

    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad / (1.0 + 10.0 * x.abs()) ** 2


def plain_loop_loss(net: SpikingNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same network and loss as ``net`` (LIF, reset by subtraction, detached), written as a user would."""
    c = net.constants
    w_in, w_rec = net.w_in, net.w_rec
    i_syn = v = x.new_zeros((x.shape[0], w_in.shape[0]))
    y_out = x.new_zeros((x.shape[0], net.readout.weight.shape[0]))
    total = 0.0
    for t in range(x.shape[1]):
        v = c.alpha_mem * v + c.coupling * i_syn
        z = _FastSigmoidSpike.apply(v - c.threshold)
        i_syn = c.alpha_syn * i_syn + x[:, t] @ w_in.t() + z @ w_rec.t()
        v = v - c.threshold * z.detach()
        y_out = c.kappa * y_out + net.readout(z)
        total = total + y_out
    return F.cross_entropy(total / x.shape[1], y)


def autograd_bptt_loss(net: SpikingNet, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The model's loss with its spikes differentiated by autograd through :func:`run_lif` (not the fused Function)."""
    z = net.trajectory(x).z
    return F.cross_entropy(net.output_of(readout_traces(z, net.readout.weight, net.readout.bias, net.constants.kappa)), y)


def snntorch_network(net: SpikingNet):
    """The same sizes and decays built from snnTorch's own neurons (module docstring), or ``None`` without snnTorch."""
    if importlib.util.find_spec("snntorch") is None:
        return None
    import snntorch
    from snntorch import surrogate
    from torch import nn

    class SnnTorchNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc_in = nn.Linear(N_IN, N_HIDDEN, bias=False)
            self.lif = snntorch.RSynaptic(alpha=math.exp(-1 / 5), beta=math.exp(-1 / 20), linear_features=N_HIDDEN, all_to_all=True,
                                          spike_grad=surrogate.fast_sigmoid(slope=10), reset_mechanism="subtract")
            self.fc_out = nn.Linear(N_HIDDEN, N_OUT)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            spk, syn, mem = self.lif.init_rsynaptic()
            y = total = 0.0
            for t in range(x.shape[1]):
                spk, syn, mem = self.lif(self.fc_in(x[:, t]), spk, syn, mem)
                y = net.constants.kappa * y + self.fc_out(spk)
                total = total + y
            return total / x.shape[1]

    model = SnnTorchNet()
    with torch.no_grad():
        model.fc_in.weight.copy_(net.w_in)
        model.lif.recurrent.weight.copy_(net.w_rec)
    return model


def saved_bytes(loss_fn) -> int:
    """Bytes of the tensors autograd saves for the backward of ``loss_fn()``, each storage counted once."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = loss_fn()
    del loss
    return sum(seen.values())


def memory_table() -> None:
    """What each gradient keeps, against the sequence length (module docstring), in MiB."""
    spec = SpikingSpec(name="bench_memory", n_in=N_IN, n_hidden=N_HIDDEN, n_out=N_OUT, output="trace", input_scale=4.0, dtype="float32")
    net = SpikingNet(spec, torch.Generator().manual_seed(0))
    print("\n| T | BPTT fused: saved | BPTT autograd: saved | e-prop offline: trajectory | e-prop online: state |")
    print("|---:|---:|---:|---:|---:|")
    for steps in MEMORY_STEPS:
        g = torch.Generator().manual_seed(1)
        x = (torch.rand((MEMORY_BATCH, steps, N_IN), generator=g) < 0.05).to(torch.float32)
        y = torch.randn((MEMORY_BATCH, steps, N_OUT), generator=g)
        batch = Batch(x, y, sequence_squared_error)
        fused = saved_bytes(lambda b=batch: b.loss(net(b.x)))
        autograd = saved_bytes(lambda b=batch: b.loss(net.output_of(readout_traces(net.trajectory(b.x).z, net.readout.weight,
                                                                                   net.readout.bias, net.constants.kappa))))
        with torch.no_grad():
            trajectory = sum(t.numel() * t.element_size() for t in net.trajectory(x))
        online = SpikingEProp(online=True)
        online.setup(net, torch.Generator().manual_seed(2))
        online.estimate(net, batch)
        mib = [b / 2**20 for b in (fused, autograd, trajectory, online.state_bytes)]
        print(f"| {steps} | " + " | ".join(f"{m:.2f}" for m in mib) + " |")


def main(repeats: int = 7, steps: int = 60, threads: int = 1) -> int:
    """``steps``: training steps per variant per repetition (at most 5: one step takes about a tenth of a second here)."""
    torch.set_num_threads(threads)
    steps = min(steps, 5)
    spec = SpikingSpec(name="bench", n_in=N_IN, n_hidden=N_HIDDEN, n_out=N_OUT, output="mean", input_scale=4.0,
                       recurrent_gain=1.0, dtype="float32")
    net = SpikingNet(spec, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    x = (torch.rand((BATCH, STEPS, N_IN), generator=g) < 0.05).to(torch.float32)
    y = torch.randint(0, N_OUT, (BATCH,), generator=g)
    batch = Batch(x, y, F.cross_entropy)
    opt = torch.optim.SGD(net.parameters(), lr=1e-4)
    eprop = SpikingEProp()
    eprop.setup(net, torch.Generator().manual_seed(2))
    other = snntorch_network(net)

    compiled = lif_kernel.available()
    if compiled:  # the same initial weights, its own optimizer
        net_cpp = SpikingNet(dataclasses.replace(spec, kernel="cpp"), torch.Generator().manual_seed(0))
        opt_cpp = torch.optim.SGD(net_cpp.parameters(), lr=1e-4)

    def apply(grads: dict[str, torch.Tensor], model: SpikingNet = net, optimizer=opt) -> None:
        for k, p in model.named_parameters():
            p.grad = grads[k]
        optimizer.step()

    def by_loss(loss_fn, optimizer=opt):
        def step(i: int) -> None:
            optimizer.zero_grad()
            loss_fn().backward()
            optimizer.step()
        return step

    def forward(i: int) -> None:
        with torch.no_grad():
            net.trajectory(x)

    fns = {
        "surrogate_bptt": lambda i: apply(net.reference_gradient(batch)),
        **({"surrogate_bptt (cpp kernel)": lambda i: apply(net_cpp.reference_gradient(batch), net_cpp, opt_cpp)} if compiled else {}),
        "surrogate_bptt (autograd)": by_loss(lambda: autograd_bptt_loss(net, x, y)),
        "plain torch loop": by_loss(lambda: plain_loop_loss(net, x, y)),
        "spiking_eprop": lambda i: apply(eprop.estimate(net, batch)),
        "forward (no graph)": forward,
    }
    if other is not None:
        other_opt = torch.optim.SGD(other.parameters(), lr=1e-4)
        fns["snntorch"] = by_loss(lambda: F.cross_entropy(other(x), y), other_opt)
    with torch.no_grad():
        rate = float(net.trajectory(x).z.mean())
    times = alternating(fns, repeats, steps, warmup=1)
    print(f"{machine(threads)}. {N_IN}-{N_HIDDEN} (recurrent LIF)-{N_OUT}, {STEPS} steps, batch {BATCH}, float32; "
          f"{steps} step(s) per variant per repetition, {repeats} repetition(s); hidden spike probability per step {rate:.3f}."
          + ("" if other is not None else " snnTorch is not installed: no comparison with it.")
          + ("" if compiled else " The C++ kernel could not be built here: no 'cpp kernel' row.") + "\n")
    print("| variant | samples/s (median) | s per step (median) | ratio | ratio range |")
    print("|---|---:|---:|---|---:|")
    refs = {"surrogate_bptt (autograd)": ("surrogate_bptt", "this / fused"), "plain torch loop": ("surrogate_bptt", "this / fused"),
            "snntorch": ("surrogate_bptt", "this / fused"), "spiking_eprop": ("forward (no graph)", "this / forward")}
    for label, t in times.items():
        per_step = statistics.median(t) / steps
        ratio, span = "", ""
        if label in refs:
            other_label, text = refs[label]
            med, lo, hi = ratio_stats(t, times[other_label])
            ratio, span = f"{text} = {med:.2f}", f"{lo:.2f}-{hi:.2f}"
        elif label == "surrogate_bptt (cpp kernel)":
            med, lo, hi = ratio_stats(times["plain torch loop"], t)
            ratio, span = f"plain loop / this = {med:.2f}", f"{lo:.2f}-{hi:.2f}"
        print(f"| {label} | {BATCH / per_step:.0f} | {per_step:.3f} | {ratio} | {span} |")
    memory_table()
    return 0
