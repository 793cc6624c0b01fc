"""Salimans et al. 2017: evolution strategies against the exact gradient on a small MLP (estimator statistics, learning curves).

Paper: T. Salimans, J. Ho, X. Chen, S. Sidor & I. Sutskever, "Evolution strategies as a scalable
alternative to reinforcement learning", arXiv 1703.03864 (2017), Sec. 2 and Algorithm 1: Gaussian
parameter perturbations of scale sigma, mirrored (antithetic) pairs, centred-rank fitness shaping.

Methods: the 8x8 digits (a proxy: the issue asks for MNIST-1D, not yet a task here), a 64-16-10 tanh
MLP (d = 1,210 parameters), cross-entropy. Conditions: backprop (the exact gradient); ES with
N = 16, 64, 256 members at sigma = 0.01 (unbiased for the smoothed gradient, which at this sigma is
the gradient); ES at sigma = 0.5 (the smoothed gradient differs: a bias); ES with centred ranks
(biased for any gradient); ES scoring each member by its error rate (a target with no gradient,
the reason to use ES); weight and node perturbation (sigma = 0.01, one perturbed pass each, Werfel
et al. 2005); and the read-out-only network ("shallow"), the control that shows hidden-layer
learning is not free. SGD with momentum 0.9, lr 0.02, batch 100, for every rule (not each rule's own
best rate). At the initial weights, on 100 test images: the angle of the mean of m independent
estimates to the exact gradient, and tr Cov / |g|^2 (step = m).

Published claim: none numeric (Salimans et al. report RL returns, not gradient statistics). The
claim checked is the mathematics of their estimator: for small sigma the angle of the mean of m
antithetic estimates falls like atan sqrt((d - 1) / (N m / 2)) (5.5 deg at N = 256, m = 1024, d = 1,210),
and its variance is about 2 (d + 1) / N. The default run is a proxy (digits, not MNIST-1D or RL).
ES reads its noise from a shared noise table (the rule's default ``noise="table"``, as Salimans et al. did;
:mod:`bioplaus.rules.evolution_strategies`). Quick run (1 seed, 300 updates, table noise): bias angle at m = 1024
of 5.67 deg for N = 256 (theory 5.5; 5.38 with fresh noise), 10.9 for N = 64, 21.5 for N = 16; tr Cov / |g|^2 at
m = 1024 of 9.5, 38.0 and 153 on their 2 (d + 1) / N lines (9.46, 37.8, 151); sigma = 0.5 levels off near 31 deg
(the smoothing's bias). Test accuracy: backprop 0.958, ES N = 256 0.950, N = 64 0.942, N = 16 0.850, error-rate
ES 0.90, shallow 0.775; centred ranks 0.58 (its steps scale like 1/sigma at this common rate); weight and node
perturbation do not learn at this rate (0.23, 0.14).
"""

from bioplaus import Condition, Protocol, PublishedTarget, rules, tasks

ES = rules.EvolutionStrategies

protocol = Protocol(
    name="salimans2017_es",
    task=tasks.Digits(),
    model="mlp_digits_small",
    rules=[rules.Backprop(), rules.Shallow(),
           Condition(ES(sigma=0.01, population=16, estimator_samples=1024), label="es N=16"),
           Condition(ES(sigma=0.01, population=64, estimator_samples=1024), label="es N=64"),
           Condition(ES(sigma=0.01, population=256, estimator_samples=1024), label="es N=256"),
           Condition(ES(sigma=0.5, population=64, estimator_samples=1024), label="es N=64 sigma=0.5"),
           Condition(ES(sigma=0.01, population=64, fitness_shaping=True, estimator_samples=1024), label="es N=64 ranks"),
           Condition(ES(sigma=0.1, population=64, fitness="error_rate", estimator_samples=0), label="es N=64 error rate"),
           rules.WeightPerturbation(sigma=0.01, estimator_samples=1024),
           rules.NodePerturbation(sigma=0.01, estimator_samples=1024)],
    seeds=range(3),
    steps=1500,
    batch_size=100,
    optimizer=("sgd", {"lr": 0.02, "momentum": 0.9}),
    record_every=100,
    metrics=["loss", "test_accuracy", "update_angle", "estimate_bias_angle", "estimate_variance"],
    summary=[("test_accuracy", "all"), ("update_angle", "all")],
    quick={"steps": 300, "seeds": range(1), "record_every": 50},
    target=PublishedTarget(paper="Salimans et al. 2017", where="Sec. 2 (the estimator; no published number)",
                           metric="estimate_bias_angle", rule="es N=256", value="< 10", proxy=True,
                           note="theory for small sigma: atan sqrt((d-1)/(N m/2)) = 5.5 deg at m = 1024"),
)
