"""``bioplaus bench snn``: training throughput of a spiking network in torch, surrogate BPTT and e-prop.

The network of issue 17: 100 Poisson inputs (5 % spike probability per step), 256 recurrent
current-based LIF neurons, 10 read-out units averaged over 100 steps of 1 ms, batch 64,
float32, cross-entropy. Each variant is one training step (gradient, then an SGD step),
timed alternating with the others, each call alone (:func:`bioplaus.bench.timing.alternating`,
process CPU time):

- ``surrogate_bptt``: the model's ``reference_gradient`` (autograd through :func:`bioplaus.snn.lif.run_lif`,
  the input projection formed once for all steps);
- ``plain torch loop``: what a user writes the obvious way, for comparison: the input projection inside
  the time loop, a custom autograd Function for the spike (the same fast-sigmoid surrogate), autograd
  through time; the same dynamics;
- ``spiking_eprop``: the rule's estimate (a forward run without a graph, then the eligibility traces
  carried forward per sample and synapse, ``(64, 256, 356)``);
- ``forward (no graph)``: one run of the network without autograd, the unit of e-prop's ratio.

Samples per second are ``64 / (median seconds per step)``; ratios are per repetition (median, range).
snnTorch is not installed here, so no comparison with it is made.

Peak memory against sequence length is not measured: the peak resident set size growth tried first
(``ru_maxrss`` in a fresh process) varied between runs (375 and 136 MiB for BPTT at T = 1600), and
e-prop as implemented keeps the sequence's trajectory ``(batch, T, n)`` anyway (it simulates first,
then carries its traces), so its memory grows with T like BPTT's.
"""

from __future__ import annotations

import statistics

import torch
import torch.nn.functional as F

from bioplaus.bench.timing import alternating, machine, ratio_stats
from bioplaus.core import Batch
from bioplaus.rules.spiking_eprop import SpikingEProp
from bioplaus.snn.lif import SpikingNet, SpikingSpec

N_IN, N_HIDDEN, N_OUT, STEPS, BATCH = 100, 256, 10, 100, 64


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


def main(repeats: int = 7, steps: int = 60, threads: int = 1) -> int:
    """``steps``: training steps per variant per repetition (at most 5: one step takes about a second here)."""
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

    def apply(grads: dict[str, torch.Tensor]) -> None:
        for k, p in net.named_parameters():
            p.grad = grads[k]
        opt.step()

    def plain(i: int) -> None:
        opt.zero_grad()
        plain_loop_loss(net, x, y).backward()
        opt.step()

    def forward(i: int) -> None:
        with torch.no_grad():
            net.trajectory(x)

    fns = {
        "surrogate_bptt": lambda i: apply(net.reference_gradient(batch)),
        "plain torch loop": plain,
        "spiking_eprop": lambda i: apply(eprop.estimate(net, batch)),
        "forward (no graph)": forward,
    }
    with torch.no_grad():
        rate = float(net.trajectory(x).z.mean())
    times = alternating(fns, repeats, steps, warmup=1)
    print(f"{machine(threads)}. {N_IN}-{N_HIDDEN} (recurrent LIF)-{N_OUT}, {STEPS} steps, batch {BATCH}, float32; "
          f"{steps} step(s) per variant per repetition, {repeats} repetition(s); hidden spike probability per step {rate:.3f}.\n")
    print("| variant | samples/s (median) | s per step (median) | ratio | ratio range |")
    print("|---|---:|---:|---|---:|")
    refs = {"surrogate_bptt": ("plain torch loop", "plain loop / this"), "spiking_eprop": ("forward (no graph)", "this / forward")}
    for label, t in times.items():
        per_step = statistics.median(t) / steps
        ratio, text, span = "", "", ""
        if label in refs:
            other, text = refs[label]
            num, den = (times[other], t) if label == "surrogate_bptt" else (t, times[other])
            med, lo, hi = ratio_stats(num, den)
            ratio, span = f"{text} = {med:.2f}", f"{lo:.2f}-{hi:.2f}"
        print(f"| {label} | {BATCH / per_step:.0f} | {per_step:.3f} | {ratio} | {span} |")
    return 0

