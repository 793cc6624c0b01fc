"""Scellier, Ernoult, Kendall & Kumar 2023, Table 1: seven energy-based learning algorithms, truncated backprop and recurrent backprop on one Hopfield network.

Paper: B. Scellier, M. Ernoult, J. Kendall & S. Kumar, "Energy-based learning algorithms for
analog computing: a comparative study", NeurIPS 36 (2023), arXiv 2312.15103. Published result
(abstract; its Table 1 holds the numbers, for deep convolutional Hopfield networks trained on GPU on
MNIST, F-MNIST, SVHN, CIFAR-10 and CIFAR-100): "all algorithms yield comparable performance on
MNIST"; as the task gets harder, negative perturbations beat positive ones (NEP better than PEP,
NCpL better than PCpL) and centered EP (CEP) is the best-performing of the seven energy-based
algorithms. Table 1's error rates, and where TBP and RBP fall in its ordering, could not be
retrieved with our search tool (only the abstract and reviews were found); the ordering of the
energy-based algorithms stated in the abstract is what we compare.

By default this is a SMALLER PROXY: a 40-256-10 layered hard-sigmoid Hopfield network
(models/ep_mnist1d_1h.toml) on MNIST-1D (tasks.MNIST1D), a task harder than MNIST for fully connected
nets (Greydanus 2020: MLP 68 %, logistic regression 32 %), standing in for the paper's harder tasks;
the 8x8 digits were dropped as default (all algorithms comparable there, and at full length PEP ranked
above NEP at a shared step size, issue 15). Names: PEP/NEP/CEP = equilibrium_propagation
positive/negative/centered (beta = 0.2); PCpL/NCpL/CCpL = coupled_learning positive/negative/centered
(eta = 0.2); CL = contrastive_learning; TBP = backprop_through_time (40 relaxation steps, last 10
unrolled); RBP = backprop (implicit differentiation at the free fixed point). Baselines: read-out
only (RBP with the hidden layer's rate 1e-12) and a linear 40-10 model (models/linear_mnist1d.toml).
With --data-dir: MNIST and a 784-500-10 network (models/ep_mnist_1h.toml), where the paper finds all
comparable; the linear baseline stays on MNIST-1D.

Step sizes: SGD with layer-wise rates (input layer 2 x), each condition at its own factor from a search
on MNIST-1D's validation split, read from scellier2023_comparative.tuned.json (`bioplaus tune`;
factors 0.3/1/3/10/30, 1 seed x 300 steps each, 55 runs, 2,328 s summed run time at load ~20 on 2
cores, so under 10 CPU-minutes). Validation accuracy at the selected factor: PCpL 0.508 (x10), CCpL
0.488 (x10), PEP 0.481 (x10), RBP 0.440 (x3), TBP 0.433 (x3), CL 0.430 (x10), CEP 0.417 (x3), NCpL
0.282 (x3), NEP 0.217 (x1), read-out only 0.349 (x3), linear 0.208 (x0.3); factor 30 was never best.
So after 300 steps the negative variants (beta = eta = 0.2) trail far behind the positive ones and CEP
behind PEP: the OPPOSITE of the paper's ordering on its harder tasks. The ordering claims are checked at
full length only; we expect them to fail here unless longer training changes the picture. --quick (300
steps, seed 0): test accuracy CCpL 0.516, PCpL 0.474, PEP 0.469, CEP 0.469, RBP 0.440, CL 0.423, read-out
only 0.358, NCpL 0.278, NEP 0.207, linear 0.176; the baseline claim passes.

Full run (3 seeds x 2,000 steps, 2026-12-02; mean ± s.d.): test accuracy CCpL 0.593 ± 0.012, PCpL 0.590
± 0.016, TBP 0.568 ± 0.018, CEP 0.562 ± 0.003, RBP 0.550 ± 0.010, CL 0.489 ± 0.008, NCpL 0.483 ± 0.005,
PEP 0.481 ± 0.061, NEP 0.396 ± 0.014; read-out only 0.325 ± 0.052, linear 0.222 ± 0.011. The baseline
claim passes; the three ordering claims FAIL, as expected above: CEP is not best of the energy-based
rules (both centered and positive CpL are ahead of it), and the negative variants stay behind the
positive ones (NEP 0.396 < PEP 0.481; NCpL 0.483 < PCpL 0.590). On MNIST-1D with one hidden layer this
proxy does not show the paper's ordering; the paper reports it on harder tasks (CIFAR-10/100).
"""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Ordering
from bioplaus.tuning import StepSizeSearch

algorithms = [
    rules.EquilibriumPropagation(beta=0.2, nudging="positive", label="PEP"),
    rules.EquilibriumPropagation(beta=0.2, nudging="negative", label="NEP"),
    rules.EquilibriumPropagation(beta=0.2, nudging="centered", label="CEP"),
    rules.CoupledLearning(eta=0.2, nudging="positive", label="PCpL"),
    rules.CoupledLearning(eta=0.2, nudging="negative", label="NCpL"),
    rules.CoupledLearning(eta=0.2, nudging="centered", label="CCpL"),
    rules.ContrastiveLearning(label="CL"),
    rules.BackpropThroughTime(steps=40, truncate=10, label="TBP"),
    rules.Backprop(label="RBP"),
]
baselines = [
    Condition(rules.Backprop(label="readout_only"), optimizer=("sgd", {"lr": 0.05, "layer_lr": {"hidden1": 1e-12}})),
    Condition(rules.Backprop(label="linear"), model="linear_mnist1d", task=tasks.OneHotSquaredError(tasks.MNIST1D()),
              optimizer=("sgd", {"lr": 0.05})),
]
PAPER = dict(paper="Scellier et al. 2023", where="abstract, Table 1 (ordering only)", proxy=True, when="full",
             published_on="deep convolutional Hopfield nets, F-MNIST to CIFAR-100 (GPU)")
BASELINE = dict(paper="control (no published number)", where="read-out-only and linear baselines", proxy=True)
ACC = dict(metric="test_accuracy")

protocol = Protocol(
    name="scellier2023_comparative",
    task=tasks.ByDataDir(default=tasks.OneHotSquaredError(tasks.MNIST1D()),
                         with_data_dir=tasks.OneHotSquaredError(tasks.MNIST()), model_with_data_dir="ep_mnist_1h"),
    model="ep_mnist1d_1h",
    rules=algorithms + baselines,
    seeds=range(3),
    steps=2000,
    batch_size=20,
    optimizer=("sgd", {"lr": 0.05, "layer_lr": {"hidden1": 0.1, "output": 0.05}}),
    tuning=StepSizeSearch(lr_scale=(0.3, 1.0, 3.0, 10.0, 30.0), metric="test_accuracy", goal="max", seeds=(0,), steps=300),
    record_every=250,
    metrics=["loss", "test_accuracy", "update_angle", "update_norm_ratio", "relax_steps"],
    summary=[("test_accuracy", "all"), ("update_angle", "all"), ("update_norm_ratio", "all")],
    quick=dict(steps=300, seeds=range(1), record_every=50),
    target=[
        Ordering(**ACC, lower=("readout_only", "linear"), higher=("CEP", "RBP"), margin=0.05, **BASELINE,
                 published="not a paper's claim: the check that learning the hidden layer is not free",
                 note="criterion: CEP and RBP more than 5 points above the read-out-only net and the linear model"),
        Ordering(**ACC, lower=("PEP", "NEP", "PCpL", "NCpL", "CCpL", "CL"), higher="CEP", margin=0.0, **PAPER,
                 published="CEP is the best-performing energy-based algorithm on the harder tasks"),
        Ordering(**ACC, lower="PEP", higher="NEP", margin=0.0, **PAPER, published="NEP better than PEP on the harder tasks"),
        Ordering(**ACC, lower="PCpL", higher="NCpL", margin=0.0, **PAPER, published="NCpL better than PCpL on the harder tasks"),
    ],
)
