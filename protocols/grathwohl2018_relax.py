"""Grathwohl et al. 2018: REINFORCE, REBAR and RELAX on the toy problem E[(b - t)^2] (DRAFT)."""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Bound, Ordering

DRAWS = 100
PAPER = dict(paper="Grathwohl et al. 2018", where="Fig. 1 (toy problem)", proxy=False)

protocol = Protocol(
    name="grathwohl2018_relax",
    task=tasks.BernoulliTarget(target=0.499),
    model="relax_toy",
    rules=[rules.Backprop(),
           rules.Reinforce(baseline="none", estimator_samples=0, variance_draws=DRAWS),
           rules.Reinforce(baseline="moving_average", baseline_rate=0.1, estimator_samples=0, variance_draws=DRAWS),
           rules.Relax(control="rebar", control_lr=0.01, estimator_samples=0, variance_draws=DRAWS),
           rules.Relax(control="relax", control_lr=0.01, width=10, estimator_samples=0, variance_draws=DRAWS),
           Condition(rules.Relax(control="relax", control_lr=0.01, width=10, estimator_samples=0, variance_draws=DRAWS),
                     model={"lr_scale": 0.0}, label="relax, learning off")],
    seeds=range(3),
    steps=5000,
    batch_size=1,
    optimizer=("adam", {"lr": 0.01}),
    record_every=100,
    metrics=["test_loss", "firing_probability", "loss_gap", "estimate_log_variance", "estimate_bias_z"],
    summary=[("firing_probability", "all"), ("estimate_log_variance", "all")],
    divergence=None,  # the loss is bounded by max(t, 1 - t)^2 <= 1: nothing can explode (only non-finite values end a run)
    quick={"steps": 500, "seeds": range(1), "record_every": 25},
    target=[Bound(condition="relax", metric="firing_probability", op="<", bound=0.1, **PAPER)],
)
