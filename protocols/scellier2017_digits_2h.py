"""Scellier & Bengio 2017 (MNIST, 2 hidden layers): equilibrium propagation trains a Hopfield network to backprop-level accuracy.

Paper: B. Scellier & Y. Bengio, "Equilibrium Propagation: Bridging the Gap between Energy-Based
Models and Backpropagation", Front. Comput. Neurosci. 11:24 (2017). Published result: EP trains
784-500-500-10 (and 784-500-10: protocols/scellier2017_digits.py) hard-sigmoid Hopfield networks
on MNIST to test errors of a few percent with training error near 0. The exact
test errors could not be retrieved with our search tool, so no number is compared here. For
MNIST, use tasks.OneHotSquaredError(tasks.MNIST()) with a 784-500-... spec and --data-dir
(not run here).

This is a PROXY: scikit-learn's 8x8 digits (1437 train / 360 test) and a 64-256-256-10 network
(models/ep_digits_2h.toml: hard sigmoid, squared error to one-hot targets, relaxation
s <- clip(u) with layers updated alternately, i.e. the clipped gradient flow of Scellier &
Bengio's energy with eps = 1, to a tolerance of 1e-4). EP uses beta = 0.5 with a random sign
each batch (Scellier & Bengio 2017 drew the sign of beta at random in their MNIST runs);
centered EP (Laborieux et al. 2021) and backprop on the same network (the implicit gradient at
the free fixed point, i.e. recurrent backprop) are beside it. Layer-wise learning rates, larger
near the input, as Scellier & Bengio used (the values are ours, for the digits): SGD, batch 20.
update_angle is measured against the implicit gradient at free fixed points relaxed to tolerance.
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks

protocol = Protocol(
    name="scellier2017_digits_2h",
    task=tasks.ByDataDir(default=tasks.OneHotSquaredError(tasks.Digits()),
                       with_data_dir=tasks.OneHotSquaredError(tasks.MNIST()), model_with_data_dir="ep_mnist_2h"),
    model="ep_digits_2h",
    rules=[rules.Backprop(),
           rules.EquilibriumPropagation(beta=0.5, nudging="positive", random_sign=True, label="ep_random_sign"),
           rules.EquilibriumPropagation(beta=0.5, nudging="centered", label="ep_centered")],
    seeds=range(2),
    steps=1000,
    batch_size=20,
    optimizer=("sgd", {"lr": 0.05, "layer_lr": {"hidden1": 0.2, "hidden2": 0.05, "output": 0.025}}),
    record_every=100,
    metrics=["loss", "test_loss", "train_accuracy", "test_accuracy", "update_angle", "relax_steps"],
    summary=[("test_accuracy", "all"), ("train_accuracy", "all"), ("update_angle", "all"), ("relax_steps", "free")],
    quick=dict(steps=100, seeds=range(1), record_every=50),
    target=PublishedTarget(paper="Scellier & Bengio 2017", where="MNIST results (784-500-500-10)",
                           metric="test_accuracy", rule="equilibrium_propagation",
                           value="a few % test error on MNIST (exact value not retrieved)", proxy=True),
)
