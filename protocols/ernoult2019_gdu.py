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
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks

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
    target=PublishedTarget(paper="Ernoult et al. 2019", where="GDU theorem and figures", metric="gdu_rel_error",
                           value="-> 0 as beta -> 0 (qualitative)", proxy=False, layer="all"),
)
