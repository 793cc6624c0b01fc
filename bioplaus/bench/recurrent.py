"""``bioplaus bench recurrent``: cost of one online step of each temporal credit-assignment rule.

For n in {16, 32, 64, 128} (batch 32 sequences, float32, ``n_in = 2``, tanh, alpha = 1) each
rule's per-time-step work is timed with the same functions the rules call
(:mod:`bioplaus.rate.recurrent`; for UORO, e-prop and RFLO the compiled whole-sequence
loops of :mod:`bioplaus.rules.ckernels`, timed over 16 steps per call, for KF-RTRL its
batched product followed by the compiled ``kf_rtrl_finish``, and, as "(pytorch steps)",
the PyTorch step functions ``uoro_step``, ``eligibility_step`` and ``kf_rtrl_step`` that
the rules fall back to without a C compiler): the influence (or trace) update and the
accumulation of ``c_t M_t`` into the estimate.
BPTT and truncated BPTT are timed as a whole 16-step sequence (forward with autograd and
backward) divided by 16. In the same interleaved repetitions:

- one forward step ``rnn_step`` (the unit of the ratio column);
- a memory pass: copying the per-sequence state ``(batch, n, n + 3)`` twice, the floor for
  UORO, e-prop, RFLO and REINFORCE, which must read and write that state each step;
- the batched product ``(batch, n, n) @ (batch, n, n)`` that KF-RTRL cannot avoid;
- for RTRL, its floating-point work ``2 n^2 P`` per sequence-step (``P = n (n + 3)``) against
  the rate of a large float32 matrix product measured in the same run (the roofline).

Each rule is timed as in training: UORO, KF-RTRL, REINFORCE and the compiled e-prop and RFLO
loops sum their estimate over the batch as they go; the PyTorch steps of e-prop and RFLO
(row-weighted) and RTRL (whose fused product yields them at no extra pass) keep
per-sequence estimates. At n = 128 the per-sequence times are set against
the NumPy reference code of Marschall et al. (2020) and braintrace (figures from issue 7).

The cost exponent is the slope of log time against log n between n = 64 and n = 128.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import torch

from bioplaus.bench.timing import interleaved, machine, ratio_stats
from bioplaus.rate.recurrent import rnn_step
from bioplaus.rules.influence import influence_buffers, influence_credit_step
from bioplaus.rules import ckernels
from bioplaus.rules.eprop import eligibility_step
from bioplaus.rules.kf_rtrl import kf_rtrl_product, kf_rtrl_step
from bioplaus.rules.online import accumulate
from bioplaus.rules.uoro import uoro_constants, uoro_step

SIZES = (16, 32, 64, 128)
BATCH = 32
N_IN = 2
SEQUENCE = 16
ALPHA = 1.0  # the leak of the timed RNN; with alpha = 1 RFLO's trace keeps no memory (its update is a write)
RULES = ("rtrl", "kf_rtrl", "kf_rtrl (pytorch steps)", "uoro", "uoro (pytorch steps)", "reinforce_rtrl", "eprop", "eprop (pytorch steps)", "rflo",
         "rflo (pytorch steps)", "bptt", "truncated_bptt")
#: per-sequence ms per step at n = 128 of the NumPy reference code of Marschall et al. (2020), one sequence at a
#: time, and of braintrace (JAX, batch 32, ~333 ms per step): figures given in issue 7, measured on this project's
#: machine by its author, not re-measured here.
NUMPY_REFERENCE_MS = {"uoro": 0.19, "kf_rtrl": 0.27, "rflo": 0.05, "rtrl": 11.5}
BRAINTRACE_RTRL_MS = 333.0 / 32
FLOOR = {"uoro": "memory pass", "reinforce_rtrl": "memory pass", "eprop": "memory pass", "rflo": "memory pass", "kf_rtrl": "bmm n×n",
         "kf_rtrl (pytorch steps)": "bmm n×n", "uoro (pytorch steps)": "memory pass", "eprop (pytorch steps)": "memory pass",
         "rflo (pytorch steps)": "memory pass"}


def _variants(n: int, g: torch.Generator) -> dict[str, tuple[Callable[[int], None], int]]:
    """``label -> (fn(i), time steps per call)`` for one network size."""
    dt = torch.float32
    k = n + N_IN + 1
    w = (torch.randn((n, k), generator=g) / math.sqrt(n)).to(dt)
    w_rec = w[:, :n].contiguous()  # as the rules pass it
    xs = torch.randn((SEQUENCE, BATCH, N_IN), generator=g).to(dt)
    h = torch.randn((BATCH, n), generator=g).to(dt)
    z = torch.cat([h, xs[0], torch.ones((BATCH, 1))], 1)
    slope = 1 - torch.tanh(torch.randn((BATCH, n), generator=g)) ** 2
    credit = torch.randn((BATCH, n), generator=g).to(dt)
    signs = torch.randint(0, 2, (64, BATCH, n), generator=g).to(dt) * 2 - 1
    state = {
        "m": influence_buffers(BATCH, n, k, h),
        "h_tilde": torch.zeros((BATCH, n), dtype=dt), "w_tilde": torch.zeros((BATCH, n, k), dtype=dt),
        "scale": torch.ones((BATCH,), dtype=dt), "grad_sum": torch.zeros((1, n, k), dtype=dt),
        "h_tilde_c": torch.zeros((BATCH, n), dtype=dt), "w_tilde_c": torch.zeros((BATCH, n, k), dtype=dt),
        "scale_c": torch.ones((BATCH,), dtype=dt), "u_c": torch.zeros((BATCH, k), dtype=dt),
        "credit_a": torch.zeros((BATCH, n), dtype=dt),
        "u": torch.zeros((BATCH, k), dtype=dt), "a": tuple(torch.zeros((BATCH, n, n), dtype=dt) for _ in range(3)),
        "trace": torch.zeros((BATCH, n, k), dtype=dt), "grad": torch.zeros((BATCH, n, k), dtype=dt),
        "copy": torch.zeros((BATCH, n, k), dtype=dt), "bmm": torch.zeros((BATCH, n, n), dtype=dt),
    }
    bmm_a, bmm_b = torch.randn((BATCH, n, n), generator=g).to(dt), torch.randn((BATCH, n, n), generator=g).to(dt)

    def forward(i: int) -> None:
        rnn_step(h, xs[i % SEQUENCE], w, ALPHA, "tanh")

    def rtrl(i: int) -> None:
        m_prev, m_next, transition = state["m"]
        influence_credit_step(m_prev, m_next, transition, slope, z, credit, w_rec, ALPHA, state["grad"])
        state["m"] = (m_next, m_prev, transition)

    # what the rule forms for a whole sequence before its loop (here for the 64 steps the signs cycle through)
    kick, push = uoro_constants(signs, slope[:, None, :].expand(-1, 64, -1), z[:, None, :].expand(-1, 64, -1))
    w_rec_t = w_rec.t().contiguous()

    def uoro(i: int) -> None:
        state["h_tilde"], state["scale"], beta = uoro_step(
            state["h_tilde"], state["w_tilde"], state["scale"], kick[i % 64], push[i % 64], slope, z, credit, w_rec_t, ALPHA)
        accumulate(state["grad_sum"], beta, state["w_tilde"])

    def kf_rtrl(i: int) -> None:
        s = signs[i % 64]
        a, a_next, scaled = state["a"]
        state["u"] = kf_rtrl_step(state["u"], a, a_next, scaled, s[:, 0], s[:, 1], slope, z, w_rec, ALPHA)
        state["a"] = (a_next, a, scaled)
        state["grad_sum"][0].addmm_(torch.bmm(credit[:, None, :], a_next)[:, 0].t(), state["u"])

    def kf_rtrl_compiled(i: int) -> None:  # as the rule runs it: the product in BLAS, the rest in one compiled pass
        s = signs[i % 64]
        a, a_next, scaled = state["a"]
        kf_rtrl_product(a, a_next, scaled, slope, w_rec, ALPHA)
        ckernels.kf_rtrl_finish(a_next, state["u_c"], slope, z, s[:, 0].contiguous(), s[:, 1].contiguous(), credit, 1e-7,
                                state["credit_a"])
        state["a"] = (a_next, a, scaled)
        state["grad_sum"][0].addmm_(state["credit_a"].t(), state["u_c"])

    # the compiled whole-sequence loops the rules run when they can (bioplaus.rules.ckernels), timed
    # over SEQUENCE steps per call; UORO, e-prop and RFLO sum their estimate over the batch as in training
    decay = (1.0 - ALPHA) + slope * w_rec.diagonal()  # the rule computes it for all steps at once
    seq = {k: v[:, None, :].expand(-1, SEQUENCE, -1).contiguous() for k, v in
           (("slope", slope), ("z", z), ("credit", credit), ("decay", decay))}
    kick_seq, push_seq = kick[:SEQUENCE].contiguous(), push[:SEQUENCE].contiguous()

    def uoro_compiled(i: int) -> None:
        ckernels.uoro_sequence(state["h_tilde_c"], state["w_tilde_c"], state["scale_c"], kick_seq, push_seq, seq["slope"],
                               seq["z"], seq["credit"], w_rec_t, ALPHA, 1e-7, state["grad_sum"])

    def eprop_compiled(i: int) -> None:
        ckernels.trace_sequence(state["trace"], seq["decay"], 0.0, seq["slope"], seq["z"], seq["credit"], state["grad_sum"])

    def rflo_compiled(i: int) -> None:
        ckernels.trace_sequence(state["trace"], None, 1.0 - ALPHA, seq["slope"], seq["z"], seq["credit"], state["grad_sum"])

    def reinforce(i: int) -> None:
        state["trace"].addcmul_((signs[i % 64] * slope)[:, :, None], z[:, None, :])
        accumulate(state["grad_sum"], credit[:, 0], state["trace"])


    def eprop(i: int) -> None:
        eligibility_step(state["trace"], decay, slope, z)
        accumulate(state["grad"], credit, state["trace"])

    def rflo(i: int) -> None:
        eligibility_step(state["trace"], 1.0 - ALPHA, slope, z)
        accumulate(state["grad"], credit, state["trace"])

    wp = w.clone().requires_grad_(True)
    w_out = torch.randn((1, n), generator=g).to(dt)
    ys = torch.randn((SEQUENCE, BATCH, 1), generator=g).to(dt)

    def bptt_sequence(detach_every: int | None) -> Callable[[int], None]:
        def run(i: int) -> None:
            hh = torch.zeros((BATCH, n), dtype=dt)
            loss = 0.0
            for t in range(SEQUENCE):
                if detach_every and t % detach_every == 0:
                    hh = hh.detach()
                hh, _ = rnn_step(hh, xs[t], wp, ALPHA, "tanh")
                loss = loss + ((hh @ w_out.t() - ys[t]) ** 2).sum()
            torch.autograd.grad(loss, wp)

        return run

    def memory_pass(i: int) -> None:
        state["copy"].copy_(state["trace"])
        state["trace"].copy_(state["copy"])

    def bmm(i: int) -> None:
        torch.bmm(bmm_a, bmm_b, out=state["bmm"])

    variants = {
        "forward step": (forward, 1), "memory pass": (memory_pass, 1), "bmm n×n": (bmm, 1),
        "rtrl": (rtrl, 1), "kf_rtrl (pytorch steps)": (kf_rtrl, 1), "uoro (pytorch steps)": (uoro, 1), "reinforce_rtrl": (reinforce, 1),
        "eprop (pytorch steps)": (eprop, 1), "rflo (pytorch steps)": (rflo, 1), "bptt": (bptt_sequence(None), SEQUENCE),
        "truncated_bptt": (bptt_sequence(4), SEQUENCE),
    }
    if ckernels.library() is not None:
        variants.update({"uoro": (uoro_compiled, SEQUENCE), "eprop": (eprop_compiled, SEQUENCE), "rflo": (rflo_compiled, SEQUENCE),
                         "kf_rtrl": (kf_rtrl_compiled, 1)})
    return variants


def _batched(fn: Callable[[int], None], calls: int) -> Callable[[int], None]:
    def run(i: int) -> None:
        for j in range(calls):
            fn(i * calls + j)

    return run


def matmul_rate(threads: int, size: int = 1024, repeats: int = 20) -> float:
    """GFLOP/s of a float32 ``size x size`` matrix product (the machine's roofline for RTRL)."""
    a, b = torch.randn((size, size)), torch.randn((size, size))
    out = torch.empty((size, size))
    for _ in range(3):
        torch.mm(a, b, out=out)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def measure(repeats: int, steps: int, threads: int) -> tuple[dict[int, dict[str, list[float]]], float]:
    """Seconds per time step of every variant at every size (one entry per repetition), and the matmul rate."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    out: dict[int, dict[str, list[float]]] = {}
    for n in SIZES:
        variants = _variants(n, g)
        calls, fns = {}, {}
        for label, (fn, _per_call) in variants.items():
            t0 = time.perf_counter()
            for i in range(3):
                fn(i)
            once = (time.perf_counter() - t0) / 3
            # enough calls that each measurement lasts about as long as `steps` RTRL-free forward batches
            calls[label] = max(1, min(steps, int(0.02 * steps / max(once, 1e-7))))
            fns[label] = _batched(fn, calls[label])
        times = interleaved(fns, repeats, 1, warmup=1)
        out[n] = {label: [t / (calls[label] * variants[label][1]) for t in ts] for label, ts in times.items()}
    return out, matmul_rate(threads)


def report(times: dict[int, dict[str, list[float]]], rate: float, repeats: int, threads: int) -> str:
    lines = [
        f"{machine(threads)}. Batch {BATCH} sequences, float32, n_in {N_IN}, tanh; {repeats} interleaved repetitions; "
        f"float32 1024² matmul: {rate:.0f} GFLOP/s.",
        "",
        "| rule | n | µs per step (batch of 32) | µs per sequence-step | × forward step | floor | × floor |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    med = {n: {k: statistics.median(v) for k, v in t.items()} for n, t in times.items()}
    rules = [r for r in RULES if r in times[SIZES[0]]]
    if len(rules) < len(RULES):
        lines.insert(1, "(No C compiler: the compiled loops of UORO, e-prop, RFLO and KF-RTRL are not timed.)")
    for rule in rules:
        for n in SIZES:
            t = times[n][rule]
            r_fwd = ratio_stats(t, times[n]["forward step"])
            floor = FLOOR.get(rule)
            f_txt = ""
            if floor:
                r, lo, hi = ratio_stats(t, times[n][floor])
                f_txt = f"{r:.2f} ({lo:.2f}–{hi:.2f})"
            lines.append(f"| {rule} | {n} | {med[n][rule] * 1e6:,.1f} | {med[n][rule] * 1e6 / BATCH:,.2f} | "
                         f"{r_fwd[0]:,.1f} | {floor or ''} | {f_txt} |")
    lines += ["", "| reference | " + " | ".join(f"n={n}" for n in SIZES) + " |", "|---|" + "---:|" * len(SIZES)]
    for ref in ("forward step", "memory pass", "bmm n×n"):
        lines.append(f"| {ref} (µs) | " + " | ".join(f"{med[n][ref] * 1e6:,.1f}" for n in SIZES) + " |")
    lines += ["", "| rule | cost exponent in n (64 → 128) |", "|---|---:|"]
    for rule in rules:
        lines.append(f"| {rule} | {math.log(med[128][rule] / med[64][rule]) / math.log(2):.2f} |")
    n = SIZES[-1]
    lines += ["", f"| rule | ms per sequence-step at n = {n} | NumPy reference (ms per sequence-step) | × its throughput |",
              "|---|---:|---:|---:|"]
    for rule, ref in NUMPY_REFERENCE_MS.items():
        rule = rule if rule in med[n] else f"{rule} (pytorch steps)"
        ours = med[n][rule] * 1e3 / BATCH
        lines.append(f"| {rule} | {ours:.4f} | {ref} | {ref / ours:.1f} |")
    flops = 2 * n * n * n * (n + N_IN + 1)
    per_seq = med[n]["rtrl"] / BATCH
    lines += ["", f"RTRL at n = {n}: {flops / 1e9:.2f} GFLOP per sequence-step, {per_seq * 1e3:.2f} ms per sequence-step "
              f"= {flops / per_seq / 1e9:.0f} GFLOP/s, {100 * flops / per_seq / 1e9 / rate:.0f} % of the measured matmul rate; "
              f"{BRAINTRACE_RTRL_MS / (per_seq * 1e3):.1f} × braintrace's {BRAINTRACE_RTRL_MS:.1f} ms per sequence-step."]
    return "\n".join(lines)


def main(repeats: int = 7, steps: int = 60, threads: int = 1) -> int:
    times, rate = measure(repeats, steps, threads)
    print(report(times, rate, repeats, threads))
    return 0
