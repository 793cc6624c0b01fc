"""Werfel, Xie & Seung 2005: node and weight perturbation on a linear perceptron, against direct gradient descent.

Paper: J. Werfel, X. Xie & H. S. Seung, "Learning curves for stochastic gradient descent
in linear feedforward networks", Neural Comput. 17:2699-2718 (2005).

Methods: a linear perceptron (20 inputs, 5 outputs, no bias) learns a linear teacher from
Gaussian inputs online (one example per update), loss 1/2 |e|^2. Node perturbation adds
N(0, sigma^2) noise to the outputs, weight perturbation to every weight, both scoring the
loss change against a clean pass; reward-modulated Hebbian learning uses a running
average of the loss (a critic) instead of the clean pass. sigma = 0.01 (1.0 for the
Hebbian rule, whose critic cannot predict the loss of each new example), SGD lr 5e-4 for
all (not each rule's optimal rate, which the paper derives).

Published result (abstract): at their optimal learning rates, "node perturbation is
slower than direct gradient descent by a factor equal to the number of output units
[here 5]; weight perturbation is slower still by an additional factor equal to the number
of input units [here 20]"; all three estimators are unbiased for this linear network.
Measured here: learning curves at one common rate (a proxy for the speed ordering), the
update angle to the exact gradient per step, and at the initial weights the angle of the
mean of m estimates to the gradient and the estimator variance (step = m). Claims: the
estimators' variance ratio and bias (measured at the initial weights, so they hold with
learning off too: they are about the estimators), and the learning ones, backprop's loss
falling by more than 10 and the speed order backprop < node < weight perturbation in every
seed; with learning switched off (lr 1e-12, tests/test_protocol_claims.py) the learning
claims fail. Quick run (2000 steps, seed 0, 2026-12-02): test loss from 20.7 to backprop
2.75, node perturbation 2.84, weight perturbation 7.02, Hebbian 3.08; estimator variance at
m = 4096: node 5.9, weight 95.5 (about n_out = 5 and n_in * n_out = 100); bias angle
m = 1 -> 4096: node 72.7 -> 1.4, weight 88.2 -> 8.6 degrees; every claim passes. At one
common rate node perturbation is only 3 % behind backprop here (the paper's factor n_out
is at each rule's optimal rate). Pending a full run (8000 steps, 3 seeds).
"""

from bioplaus import Protocol, rules, tasks
from bioplaus.claims import Ordering, Ratio, Trend

WERFEL = dict(paper="Werfel, Xie & Seung 2005", where="abstract; Sec. 4", proxy=True, published_on="linear networks at each rule's optimal rate")

protocol = Protocol(
    name="werfel2005_perturbation",
    task=tasks.LinearTeacher(n_in=20, n_out=5),
    model="linear_perceptron_20_5",
    rules=[rules.Backprop(), rules.NodePerturbation(sigma=0.01, estimator_samples=4096),
           rules.WeightPerturbation(sigma=0.01, estimator_samples=4096),
           rules.RewardModulatedHebbian(sigma=1.0, critic_rate=0.5, estimator_samples=4096)],
    seeds=range(3),
    steps=8000,
    batch_size=1,
    optimizer=("sgd", {"lr": 5e-4}),
    record_every=100,
    metrics=["loss", "test_loss", "update_angle", "estimate_bias_angle", "estimate_variance"],
    summary=[("test_loss", "all"), ("update_angle", "all")],
    quick=dict(steps=2000, seeds=range(1), record_every=50),
    target=[
        Ratio(condition="node_perturbation", reference="weight_perturbation", metric="estimate_variance", at_most=0.2, **WERFEL,
              published="weight perturbation slower than node perturbation by a further factor n_in (20 here)",
              note="criterion: node perturbation's estimator variance (tr Cov / |g|^2) below a fifth of weight perturbation's"),
        *[Trend(condition=c, metric="estimate_bias_angle", direction="falls", by=30, **WERFEL,
                published="the estimators are unbiased for this linear network",
                note="criterion: the angle of the mean of m estimates to the gradient falls by > 30 degrees from m = 1 "
                     "to the largest m") for c in ("node_perturbation", "weight_perturbation")],
        Ordering(metric="test_loss", lower="node_perturbation", higher="weight_perturbation", per_seed=True, **WERFEL,
                 published="weight perturbation learns slowest",
                 note="at one common rate, not each rule's optimal one (Protocol has one optimizer)"),
        Ordering(metric="test_loss", lower="backprop", higher="node_perturbation", per_seed=True, **WERFEL,
                 published="node perturbation is slower than direct gradient descent",
                 note="at one common rate: its estimator's variance alone keeps its loss above backprop's"),
        Trend(condition="backprop", metric="test_loss", direction="falls", by=10, per_seed=True, **WERFEL,
              published="(control) direct gradient descent learns the teacher",
              note="criterion: the loss falls by more than 10 from its start (20.7 in seed 0: 1/2 E|(T - W)x|^2) in every seed"),
    ],
)
