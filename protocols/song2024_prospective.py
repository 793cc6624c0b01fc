"""Song et al. 2024: prospective configuration moves the output toward its target more directly than backprop.

Paper: Y. Song, B. Millidge, T. Salvatori, T. Lukasiewicz, Z. Xu & R. Bogacz, "Inferring neural activity
before plasticity as a foundation for learning beyond backpropagation", Nature Neuroscience 27 (2024)
348-358. In an energy-based network whose output is clamped to the target, the activities first relax
to the configuration they should have after learning ("prospective configuration"), and the weights
then change to consolidate it. Prospective configuration is ``rules.PredictiveCoding`` here, with the
output energy the squared error at precision 1 (the output clamped) and inference run to equilibrium.

The measure, "target alignment" (as the authors' released code computes it, YuhangSong/
Prospective-Configuration, experiments/nature_target_alignment/base-depth-width-linear-angle.yaml):
``cos(o_after - o_before, y - o_before)`` for one update on one sample, o the output on that sample before
and after the update (``bioplaus.metrics.target_alignment``).

Settings followed (the released configuration above; the paper states them only in its code): deep
linear networks of width 64 without biases, Xavier-uniform initial weights (gain 1), depth L = 1..25
weight layers, one sample (batch of 1) with x ~ N(0, 1)^64 and a target with unit-variance entries,
loss 1/2 |o - y|^2, ONE update from the initial weights; both rules SGD with weight learning rate 0.001;
predictive coding with 512 inference steps of rate 0.1 (the code's x-optimizer SGD lr 0.1, T = 512),
backprop the same network without inference (T = 1); 27 seeds. Here: depths 1, 2, 4, 8, 16 (proxy: five
of the 25), 10 seeds, and the target is a random linear function of x (tasks.LinearTeacher with
teacher_scale sqrt(3/64), so its entries have unit variance) rather than an independent N(0, 1) draw;
the inference rate is fixed (the released trainer halves it whenever the energy rises, x_lr_discount
0.5: on a linear network at rate 0.1 the energy does not rise, so the two agree).

Published: no number. The released figure (fig3-e in the code's README, "target alignment for deeper
nets") shows predictive coding's alignment near 1 (mostly 0.8-1.0) at every depth, and backprop's
falling with depth from 1 at L = 1 to ~0.2-0.6 at L = 20-25 (read off the plot; not a published
number). Claims checked: (1) at L = 1 both rules make the same update, so both have alignment 1 (a
check that the measure is not tilted toward predictive coding); (2) backprop's alignment falls below 0.9
at L = 16 (the effect is not free: without it there is nothing to beat); (3) predictive coding's alignment
exceeds backprop's by more than 0.1 at L = 8 and L = 16. Control reported without a claim: predictive
coding with a single inference step (``pc_T1_L16``): it has not relaxed, so its hidden layers barely
change and the update is almost read-out only, and a read-out-only step moves o along y - o exactly: its
alignment is 1.000 too. So alignment near 1 alone does not show the prospective mechanism (nor how much is
learned); what does is alignment near 1 together with large hidden-layer changes that are not backprop's
(PC's update angle to backprop, 79 degrees at L = 16, second panel of the figure).

The paper's simplest interference demonstration (Fig. 1 / the code's base-112.yaml: one input of value 1,
one hidden unit, two outputs, all weights 1, target (0, 1), lr 0.2, T = 128) is the test
``tests/test_prospective_configuration.py``: backprop lowers the output that was already right, prospective
configuration much less.

Not a run of learning curves: the earlier version of this protocol trained a deep linear student for 400
steps at SGD lr 0.01 and found predictive coding learning far more slowly than backprop; the paper's measure
is of one update from the initial weights, which is what is run now.

Measured (the default run is the quick run: 10 seeds, 110 one-update runs, 44 s wall / 12 s CPU on this
machine, 2026-12-02), target alignment mean ± s.d. (ddof 1) at L = 1 / 2 / 4 / 8 / 16: backprop 1.000 ± 0.000 /
0.910 ± 0.019 / 0.806 ± 0.049 / 0.662 ± 0.072 / 0.464 ± 0.142; prospective configuration 1.000 ± 0.000 /
0.992 ± 0.006 / 0.973 ± 0.016 / 0.924 ± 0.029 / 0.870 ± 0.095; PC with one inference step (L = 16) 1.000.
PC's update angle to backprop's: 0 / 32.8 / 53.1 / 68.8 / 78.8 degrees (82.2 with one inference step). All
four claims pass; the pattern is the released figure's (PC near 1 at every depth, backprop falling with depth).
"""

import math

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Bound, Near, Ordering
from bioplaus.rate.spec import FeedforwardSpec

DEPTHS = (1, 2, 4, 8, 16)
WIDTH = 64
PC = dict(inference_rate=0.1, steps=512, output_precision=1.0)
SONG = dict(paper="Song et al. 2024", where="released code, experiments/nature_target_alignment (fig3-e)", proxy=True,
            published_on="deep linear nets of width 64, depth 1-25, one update, SGD lr 0.001, T = 512, 27 seeds")


def deep_linear(depth: int) -> FeedforwardSpec:
    return FeedforwardSpec(name=f"deep_linear_{WIDTH}x{depth}", sizes=(WIDTH,) * (depth + 1), activations=("linear",) * depth,
                           bias=False, init="xavier_uniform", description=f"deep linear net, {depth} layers of width {WIDTH}")


CONDITIONS = ([Condition(rules.Backprop(), model=deep_linear(d), label=f"backprop_L{d}") for d in DEPTHS]
              + [Condition(rules.PredictiveCoding(**PC), model=deep_linear(d), label=f"pc_L{d}") for d in DEPTHS]
              + [Condition(rules.PredictiveCoding(**{**PC, "steps": 1}), model=deep_linear(16), label="pc_T1_L16")])
ALIGN = dict(metric="target_alignment", at=0)

protocol = Protocol(
    name="song2024_prospective",
    task=tasks.LinearTeacher(n_in=WIDTH, n_out=WIDTH, teacher_scale=math.sqrt(3 / WIDTH), n_test=100),
    model=deep_linear(16),
    rules=CONDITIONS,
    seeds=range(10),
    steps=1,
    batch_size=1,
    optimizer=("sgd", {"lr": 0.001}),
    record_every=1,
    metrics=["target_alignment", "update_angle"],
    summary=[("target_alignment", "all"), ("update_angle", "all")],
    quick=dict(),
    target=[
        Near(condition="pc_L1", reference="backprop_L1", tolerance=1e-3, **ALIGN, **SONG,
             published="both rules at alignment 1 for one layer",
             note="one weight layer: the clamped-output update is backprop's, and dW = lr e x^T moves o along e exactly"),
        Bound(condition="backprop_L16", op="<", bound=0.9, **ALIGN, **SONG,
              published="backprop's target alignment falls with depth (figure only)",
              note="the control that fails the ordering below: backprop itself"),
        Ordering(lower="backprop_L8", higher="pc_L8", margin=0.1, **ALIGN, **SONG,
                 published="prospective configuration's target alignment above backprop's in deep nets (figure only)",
                 note="criterion: mean over seeds more than 0.1 higher; 0.1 is this package's threshold"),
        Ordering(lower="backprop_L16", higher="pc_L16", margin=0.1, **ALIGN, **SONG,
                 published="prospective configuration's target alignment above backprop's in deep nets (figure only)",
                 note="criterion: mean over seeds more than 0.1 higher"),
    ],
)
