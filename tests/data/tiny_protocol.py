"""A tiny protocol for the tests: three rules on the linear 30-20-10 teacher task, two seeds, 60 steps."""

from bioplaus import Protocol, rules, tasks

protocol = Protocol(
    name="tiny",
    task=tasks.LinearTeacher(n_in=30, n_out=10, n_test=200),
    model="linear_30_20_10",
    rules=[rules.Backprop(), rules.FeedbackAlignment(scale=0.5), rules.Shallow()],
    seeds=range(2),
    steps=60,
    batch_size=20,
    optimizer=("sgd", {"lr": 1e-2}),
    record_every=20,
    metrics=["loss", "test_loss", "update_angle", "weight_angle", "norm_ratio", "sign_concordance",
             "weight_change_angle", "weight_distance", "representation_cka"],
    quick=dict(steps=30, seeds=range(1), record_every=10),
    cka_samples=100,
)
