"""Ernoult et al. 2019 ("GDU property"): step by step, EP's neural and weight updates equal BPTT's gradients.

Paper: M. Ernoult, J. Grollier, D. Querlioz, Y. Bengio & B. Scellier, "Updates of Equilibrium
Prop Match Gradients of Backprop Through Time in an RNN with Static Input", NeurIPS 32 (2019),
their theorem and its figures. Published result: qualitative (the theorem): for every time step t of the
nudged phase, DeltaEP(beta, t) -> -grad_BPTT(t) as beta -> 0, exactly when the dynamics derive
from a primitive function and the steady state was reached; the figure shows EP and BPTT
curves on top of each other. No number is quoted, so the target is the theorem's limit.

Conditions of that result, all met here: symmetric weights (one W per layer pair, used both
ways); discrete-time dynamics derived from a primitive function (s_{t+1} = dPhi/ds with
Phi = |s|^2/2 - eps E, the gradient flow of the Hopfield energy, models/ep_gdu_small.toml);
the free phase relaxed to 1e-12 before the window; the nudged phase starts from the free fixed
point; small beta (0.001, 0.01 and 0.1, positive and centered nudging); float64.

Metrics per nudged step t = 0 .. K-1 (K = 30): gdu_angle (degrees) and gdu_rel_error
(|DeltaEP + grad| / |grad|) for each weight (W1, b1, ...), all parameters (all) and each
layer of neurons (neurons:<layer>, internal state = pre-activation coordinates). Not a proxy
for the theorem; the network (64-32-32-10 on the 8x8 digits, batch 20) is ours.
Quick run (seed 0, 2026-12-02), worst-step gdu_rel_error at beta 0.1 / 0.01 / 0.001:
positive 0.571 / 0.097 / 0.010, centered 1.02 / 7.9e-3 / 3.6e-4; at t = 0: positive
2.4e-3 / 2.5e-4 / 2.5e-5 (slope 1 in beta), centered 1.5e-4 / 1.5e-6 / 1.5e-8 (slope 2).
At t = 29 centered's slope between 0.01 and 0.001 is only ~1.3 (error floor), so the
slope claims read t = 0.
"""

from bioplaus import Protocol, rules, tasks
from bioplaus.claims import Limit, Ordering, Ratio

GDU = dict(paper="Ernoult et al. 2019", where="GDU theorem and figures", proxy=False, metric="gdu_rel_error")
conditions = [rules.EquilibriumPropagation(beta=b, nudging=n, label=f"{n}_beta{b:g}")
              for n in ("positive", "centered") for b in (0.1, 0.01, 0.001)]

protocol = Protocol(
    name="ernoult2019_gdu",
    task=tasks.OneHotSquaredError(tasks.Digits()),
    model="ep_gdu_small",
    rules=conditions,
    seeds=range(3),
    steps=0,
    batch_size=20,
    record_every=1,
    metrics=["gdu_angle", "gdu_rel_error", "relax_steps"],
    summary=[("gdu_rel_error", "all"), ("gdu_angle", "all"), ("gdu_angle", "neurons:hidden1")],
    quick=dict(seeds=range(1)),
    # at="max": the worst nudged step t of each run; at="first": t = 0
    target=[
        *[Limit(along=tuple(f"{n}_beta{b:g}" for b in (0.1, 0.01, 0.001)), limit=0, tolerance=tol, at="max", **GDU,
                published="DeltaEP(beta, t) -> -grad_BPTT(t) as beta -> 0", note=f"criterion: the worst step's error "
                f"shrinks with beta and ends below {tol:g}") for n, tol in (("positive", 0.02), ("centered", 1e-3))],
        Ratio(condition="positive_beta0.001", reference="positive_beta0.01", at_most=0.15, at="first", **GDU,
              published="one-sided nudging: error O(beta)", note="criterion: at t = 0, 10x smaller beta -> error at least ~7x smaller"),
        Ratio(condition="centered_beta0.001", reference="centered_beta0.01", at_most=0.02, at="first",
              **{**GDU, "paper": "Laborieux et al. 2021", "where": "abstract (symmetric nudging)"},
              published="symmetric nudging cancels EP's first-order bias (a central difference: error O(beta^2))",
              note="criterion: at t = 0, 10x smaller beta -> error 50x smaller"),
        *[Ordering(lower=f"centered_beta{b:g}", higher=f"positive_beta{b:g}", at="max",
                   **{**GDU, "paper": "Laborieux et al. 2021", "where": "abstract (symmetric nudging)"},
                   published="symmetric nudging cancels EP's first-order bias", note="at small beta") for b in (0.01, 0.001)],
    ],
)
