"""Grathwohl et al. 2018: REINFORCE, REBAR and RELAX on the toy problem E[(b - t)^2], against the exact gradient.

Paper: W. Grathwohl, D. Choi, Y. Wu, G. Roeder & D. Duvenaud, "Backpropagation through the Void: optimizing
control variates for black-box gradient estimation", ICLR 2018 (arXiv 1711.00123), Fig. 1: the toy problem
of Tucker et al. 2017, minimise E_b[(b - t)^2] with b ~ Bernoulli(theta), t = 0.499; training curves and the
log-variance of each estimator's gradient for REINFORCE, REBAR and RELAX. Published (PUBLISHED.md; numbers only in
the figure): the optimum is theta -> 0; REBAR fails to find it for its variance; RELAX, with the lowest
variance, does. What I could not read: the paper's text of the toy experiment (not in the stored pages); the
settings below (Adam, lr 0.01 for the logit and the control, 5000 iterations, one sample per step, logit
starting at 0, a 10-unit tanh control network) are those of ``pytorch_toy.py`` in the authors' repository
(duvenaud/relax), read there, not in the paper. Not a proxy: the paper's problem itself, one model.

Methods: one Bernoulli unit with logit phi (``models/relax_toy.toml``: identity read-out, input 0, so phi is
its bias), ``tasks.BernoulliTarget(0.499)``: f(b) = (b - t)^2 per step (batch 1). theta = sigmoid(phi); the
exact gradient dE/dphi = theta (1 - theta) ((1 - t)^2 - t^2) = 0.002 theta (1 - theta) (the model's
enumeration of b's two states gives it, checked against the closed form in tests/test_grathwohl2018_relax.py).
The logit itself diverges (-> -inf at the optimum), so what is reported is theta (``firing_probability``)
and the loss gap E[(b - t)^2] - t^2 = 0.002 theta (``loss_gap``, exact). Conditions (Adam lr 0.01 for all):
``backprop`` (the exact gradient: what the optimizer does with no estimator noise); ``reinforce`` (score
function, no baseline); ``reinforce (moving average)`` (baseline: running mean of f, rate 0.1); ``rebar``
(RELAX's estimator with the control eta f(sigmoid(z / lambda)) only, eta and lambda learned on the squared
estimate, Adam 0.01); ``relax`` (that plus a learned 10-unit tanh network r(z)); ``relax, learning off``
(RELAX with the logit's learning rate 0: theta stays 1/2, the control still learns), so that "reaches the
optimum" cannot pass for free. Estimator statistics at every recording step, from 100 fresh draws at the current
phi (their own random stream, so measuring does not change a run): ``estimate_log_variance`` = ln Var(g_hat)
(natural log) and ``estimate_bias_z`` = (mean of the draws - exact gradient) / standard error. With one parameter
the angle to the gradient is only 0 or 180 deg, so it is not used; the variance and the bias in standard errors
are what is meaningful. The claims read the log-variance as its mean over the recorded steps (the log of the
geometric mean of the variance along each run's own path), as the figure shows it over training.

Measured, full length (3 seeds, 5000 steps; mean ± s.d.): see MEASURED below. Quick run (1 seed, 500 steps):
only the variance claims are judged (theta barely moves in 500 steps for any estimator but the exact gradient).
"""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Bound, Ordering, Value

DRAWS = 100
PAPER = dict(paper="Grathwohl et al. 2018", where="Fig. 1 (toy problem)", proxy=False,
             published_on="E[(b - 0.499)^2], b ~ Bernoulli(theta), one sample per step")
RELAX = dict(control_lr=0.01, width=10, estimator_samples=0, variance_draws=DRAWS)

protocol = Protocol(
    name="grathwohl2018_relax",
    task=tasks.BernoulliTarget(target=0.499),
    model="relax_toy",
    rules=[rules.Backprop(),
           rules.Reinforce(baseline="none", estimator_samples=0, variance_draws=DRAWS),
           rules.Reinforce(baseline="moving_average", baseline_rate=0.1, estimator_samples=0, variance_draws=DRAWS),
           rules.Relax(control="rebar", **RELAX),
           rules.Relax(control="relax", **RELAX),
           Condition(rules.Relax(control="relax", **RELAX), model={"lr_scale": 0.0}, label="relax, learning off")],
    seeds=range(3),
    steps=5000,
    batch_size=1,
    optimizer=("adam", {"lr": 0.01}),
    record_every=100,
    metrics=["test_loss", "firing_probability", "loss_gap", "estimate_log_variance", "estimate_bias_z"],
    summary=[("firing_probability", "all"), ("loss_gap", "all"), ("estimate_log_variance", "all")],
    divergence=None,  # the loss is bounded by max(t, 1 - t)^2 <= 1: nothing can explode (only non-finite values end a run)
    quick={"steps": 500, "seeds": range(1), "record_every": 25},
    target=[
        Ordering(metric="estimate_log_variance", at="mean", lower="relax", higher=("reinforce", "rebar"), margin=2.0,
                 published="RELAX has the lowest variance (figure; no number)", **PAPER,
                 note="margin 2 in ln Var: a variance at least e^2 = 7.4 times lower, over the whole run"),
        Ordering(metric="firing_probability", lower="relax", higher=("reinforce", "rebar", "relax, learning off"),
                 margin=0.1, when="full", published="RELAX reaches the optimum theta -> 0; REBAR does not", **PAPER),
        Bound(condition="relax", metric="firing_probability", op="<", bound=0.25, when="full",
              published="RELAX reaches the optimum theta -> 0", **PAPER,
              note="0.25: the loss gap halved from the start (theta = 1/2); the exact gradient gets below 0.01"),
        Bound(condition="rebar", metric="firing_probability", op=">", bound=0.25, when="full",
              published="REBAR fails to find the optimum for its variance", **PAPER),
        *[Value(condition=c, metric="estimate_bias_z", at="mean", value=0.0, tolerance=1.0,
                paper="Grathwohl et al. 2018", where="Sec. 3 (the estimator is unbiased for any control)", proxy=False,
                published="unbiased", note="mean over recorded steps of (mean - exact) / s.e.; about N(0, 1/records)")
          for c in ("rebar", "relax")],
    ],
)
