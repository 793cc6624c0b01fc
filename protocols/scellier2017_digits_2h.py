"""Scellier & Bengio 2017 (MNIST, 2 hidden layers): equilibrium propagation trains a Hopfield network to backprop-level accuracy.

Paper: B. Scellier & Y. Bengio, "Equilibrium Propagation: Bridging the Gap between Energy-Based
Models and Backpropagation", Front. Comput. Neurosci. 11:24 (2017), arXiv 1602.05179. Published
result: EP trains 784-500-500-10 (and 784-500-10: protocols/scellier2017_digits.py) hard-sigmoid
Hopfield networks on MNIST; Sec. 5 (PUBLISHED.md): "0.00 % training error; the generalization error
lies between 2 and 3 % depending on the architecture" (per-network values only in a figure), checked
on MNIST (--data-dir) at full length only. The authors' released code
(github.com/bscellier/Towards-a-Biologically-Plausible-Backprop, train_model.py) gives the
784-500-500-10 run's hyperparameters: 60 epochs, 150 free / 6 nudged iterations, beta = 1, learning
rates 0.4, 0.1 and 0.01 (input to output); batch 20, eps = 0.5, the sign of beta drawn at random.

By default this is a PROXY (the name is kept for stored results): MNIST-1D (tasks.MNIST1D) and a
40-256-256-10 network (models/ep_mnist1d_2h.toml), with the dynamics, rules (EP with random-sign
beta = 0.5, centered EP, recurrent backprop), baselines (read-out only: the same net with both
hidden layers' rates at 1e-12; a linear 40-10 model), batch and metrics of
protocols/scellier2017_digits.py; fewer seeds and steps. With --data-dir: MNIST and
models/ep_mnist_2h.toml (the linear baseline stays on MNIST-1D).

Step sizes: SGD, layer-wise rates larger near the input (4 : 1 : 0.5), each condition at its own
factor from a search on MNIST-1D's validation split, read from scellier2017_digits_2h.tuned.json
(`bioplaus tune`; factors 0.3/1/3/10, 1 seed x 300 steps each, 20 runs, 4,605 s summed run time at
load ~20 on 2 cores: recurrent backprop on two layers is the slow part). Validation accuracy at
0.3/1/3/10: backprop 0.313/0.425/0.425/0.365 (x1), EP random sign 0.276/0.306/0.408/0.326 (x3),
centered EP 0.270/0.346/0.414/0.376 (x3), read-out only 0.185/0.266/0.290/0.164 (x3), linear
0.208/0.208/0.181/diverged (x0.3).

Measured, --quick (300 steps, seed 0, selected step sizes): test accuracy backprop 0.436, centered EP
0.413, EP random sign 0.372, read-out only 0.307, linear 0.176: both baseline claims pass.

Full run (2 seeds x 2,000 steps, 2026-12-02): test accuracy backprop 0.615, centered EP 0.604, EP
random sign 0.568, read-out only 0.285, linear 0.224; training accuracy of EP random sign 0.715. Both
baseline claims pass; "EP within 3 points of backprop" FAILS for EP with a random-sign beta (4.7
points below; centered EP is 1.1 below): with two hidden layers and each rule at its own step size,
backprop leads here, unlike on one hidden layer (scellier2017_digits). Two seeds: no s.d. is claimed.
"""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Bound, Ordering, Value
from bioplaus.tuning import StepSizeSearch

EP = ("ep_random_sign", "ep_centered")
BASELINE = dict(paper="control (no published number)", where="read-out-only and linear baselines", proxy=True)

protocol = Protocol(
    name="scellier2017_digits_2h",
    task=tasks.ByDataDir(default=tasks.OneHotSquaredError(tasks.MNIST1D()),
                         with_data_dir=tasks.OneHotSquaredError(tasks.MNIST()), model_with_data_dir="ep_mnist_2h"),
    model="ep_mnist1d_2h",
    rules=[rules.Backprop(),
           rules.EquilibriumPropagation(beta=0.5, nudging="positive", random_sign=True, label="ep_random_sign"),
           rules.EquilibriumPropagation(beta=0.5, nudging="centered", label="ep_centered"),
           Condition(rules.Backprop(label="readout_only"),
                     optimizer=("sgd", {"lr": 0.025, "layer_lr": {"hidden1": 1e-12, "hidden2": 1e-12}})),
           Condition(rules.Backprop(label="linear"), model="linear_mnist1d", task=tasks.OneHotSquaredError(tasks.MNIST1D()),
                     optimizer=("sgd", {"lr": 0.05}))],
    seeds=range(2),
    steps=2000,
    batch_size=20,
    optimizer=("sgd", {"lr": 0.05, "layer_lr": {"hidden1": 0.2, "hidden2": 0.05, "output": 0.025}}),
    tuning=StepSizeSearch(lr_scale=(0.3, 1.0, 3.0, 10.0), metric="test_accuracy", goal="max", seeds=(0,), steps=300),
    record_every=200,
    metrics=["loss", "test_loss", "train_accuracy", "test_accuracy", "update_angle", "update_norm_ratio", "relax_steps"],
    summary=[("test_accuracy", "all"), ("update_angle", "all"), ("update_norm_ratio", "all"), ("relax_steps", "free")],
    quick=dict(steps=300, seeds=range(1), record_every=50),
    target=[
        Ordering(metric="test_accuracy", lower="readout_only", higher=(*EP, "backprop"), margin=0.05, **BASELINE,
                 published="not a paper's claim: the check that learning the hidden layers is not free",
                 note="criterion: more than 5 points above the read-out-only net (hidden layers frozen)"),
        Ordering(metric="test_accuracy", lower="linear", higher=(*EP, "backprop"), margin=0.05, **BASELINE,
                 published="Greydanus 2020: logistic regression 32 %, MLP 68 % on MNIST-1D",
                 note="criterion: more than 5 points above the linear model"),
        Ordering(metric="test_accuracy", lower="backprop", higher=EP, margin=-0.03, when="full",
                 paper="Scellier & Bengio 2017", where="Sec. 5", proxy=True,
                 published="EP reaches generalization error 2-3 %, backprop-level on MNIST",
                 note="criterion: each EP variant at most 3 points below recurrent backprop, each at its own step size"),
        Value(condition="ep_random_sign", metric="test_accuracy", value=0.975, tolerance=0.005, needs_data_dir=True, when="full",
              paper="Scellier & Bengio 2017", where="Sec. 5", proxy=True,
              published="generalization error between 2 and 3 % (all three networks; per-network values only in a figure)",
              published_on="MNIST, 784-500-500-10 hard-sigmoid Hopfield net, EP with random-sign beta"),
        Bound(condition="ep_random_sign", metric="train_accuracy", op=">=", bound=0.999, needs_data_dir=True, when="full",
              paper="Scellier & Bengio 2017", where="Sec. 5", proxy=True, published="0.00 % training error",
              published_on="MNIST, 784-500-500-10 hard-sigmoid Hopfield net, EP with random-sign beta",
              note="train_accuracy is measured on a subset of the training set (the task's train_eval_size)"),
    ],
)
