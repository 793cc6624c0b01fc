"""Zenke & Vogels 2021 (Neural Comput. 33:899): surrogate-gradient learning against the surrogate's shape and slope, and the manifold's dimension.

Published claim (abstract): "surrogate gradient learning is robust to different shapes of underlying
surrogate derivatives, but the choice of the derivative's scale can substantially affect learning
performance". No number is cited (only the abstract was read). Task: Randman (random manifolds,
the authors' dataset definition, :class:`bioplaus.tasks.Randman`): 10 classes, 20 input units
firing one spike each within 50 steps, latent dimension 1 by default, 500 samples per class (20 % test).

Here (a proxy: a 20-100-10 LIF network without recurrent weights, Adam lr 3e-3, batch 50, far fewer
epochs than the paper): surrogate BPTT with the fast sigmoid (SuperSpike) at slope 10 as the base;
the same with the sigmoid and the triangle at slope 10 (shape); the fast sigmoid at slopes 1 and 100
(we vary the slope, which sets the derivative's width; which parameter the paper calls its scale was
not read); the base on manifolds of dimension 2 and 3 (harder); and the read-out-only control (the
spiking layer stays random). Measured: test accuracy per condition.

Measured with ``--quick`` (2 epochs, seed 0; the full schedule was not run here): shape at slope
10: fast sigmoid 0.737, sigmoid 0.742, triangle 0.709; fast-sigmoid slope 1 / 10 / 100: 0.687 /
0.737 / 0.721; manifold dimension 1 / 2 / 3: 0.737 / 0.627 / 0.703 (each dimension draws other
manifolds, so one seed does not order them); read-out only 0.649. After 2 epochs the differences
between shapes and between slopes are of the same size (a few points): this proxy neither shows nor
refutes the paper's claim; it needs the full schedule and more seeds.
"""

from bioplaus import Condition, Protocol, PublishedTarget, rules, tasks

EPOCH = 4000 // 50


def bptt(label, **model):
    return Condition(rules.Backprop(label=label), model=model or None)


protocol = Protocol(
    name="zenke2021_randman",
    task=tasks.Randman(n_classes=10, n_units=20, dim=1, alpha=2.0, time_steps=50, n_per_class=500),
    model="snn_randman",
    rules=[
        bptt("fast_sigmoid_slope10"),
        bptt("sigmoid_slope10", surrogate="sigmoid"),
        bptt("triangle_slope10", surrogate="triangle"),
        bptt("fast_sigmoid_slope1", surrogate_slope=1.0),
        bptt("fast_sigmoid_slope100", surrogate_slope=100.0),
        Condition(rules.Backprop(label="dim2"), task={"dim": 2}),
        Condition(rules.Backprop(label="dim3"), task={"dim": 3}),
        Condition(rules.SpikingReadoutOnly(), label="readout_only"),
    ],
    seeds=range(3),
    steps=20 * EPOCH,
    batch_size=50,
    optimizer=("adam", {"lr": 3e-3}),
    record_every=EPOCH,
    metrics=["loss", "test_accuracy"],
    summary=[("test_accuracy", "all")],
    quick={"steps": 2 * EPOCH, "record_every": EPOCH // 2, "seeds": [0]},
    target=PublishedTarget(
        paper="Zenke & Vogels 2021", where="abstract", metric="test_accuracy", rule="fast_sigmoid_slope10",
        value="robust to the surrogate's shape, sensitive to its scale", proxy=True,
        note="compare the shape conditions with each other and the slope conditions with each other",
    ),
)
