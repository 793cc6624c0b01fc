"""Lillicrap et al. 2016, Fig. 2 (Fig. 1d-e of arXiv:1411.0247): feedback alignment on a linear 30-20-10 teacher task.

Paper: T. P. Lillicrap, D. Cownden, D. B. Tweed & C. J. Akerman, "Random synaptic
feedback weights support error backpropagation for deep learning", Nat. Commun. 7:13276 (2016).

Methods as published: a linear 30-20-10 network learns a fixed linear teacher T
(10 x 30, entries U(-1, 1)) from inputs x ~ N(0, I); loss 1/2 |e|^2; forward weights
start U(-0.01, 0.01); feedback B is fixed, U(-0.5, 0.5). The paper tuned each
algorithm's learning rate by hand and gives no value; we use SGD, lr 1e-3, batches of 20.

Published result (qualitative; the text gives no number): the angle between the
hidden-layer updates of feedback alignment and backprop "initially average about 90°.
But they soon shrink", staying well below 90° while FA's error falls like backprop's;
'shallow' learning (output layer only) hardly reduces the loss. Not a proxy: same task
and sizes as the paper.

Measured here (5 seeds, 5000 steps, 2026-11-26): FA's hidden-layer update angle falls
from 90.9 to 28.6 ± 6.0 degrees, its weight angle (W vs B^T) from 88.0 to 32.4 ± 2.4;
test loss 51.1 -> 4.7e-06 (FA), 3.6e-04 (backprop), 50.8 (shallow). FA learns faster
than backprop here: from weights near 0 backprop's updates start tiny (the saddle at
W = 0), while FA's hidden layer learns through the fixed, larger B; the paper notes the
same head start from small weights (FA acting like a local pseudoinverse, its Fig. 4).
The total weight changes of FA and backprop end nearly orthogonal (89.5 degrees):
both fit the teacher, through different weights.
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks

protocol = Protocol(
    name="lillicrap2016_linear",
    task=tasks.LinearTeacher(n_in=30, n_out=10, teacher_scale=1.0),
    model="linear_30_20_10",
    rules=[rules.Backprop(), rules.FeedbackAlignment(scale=0.5), rules.Shallow()],
    seeds=range(5),
    steps=5000,
    batch_size=20,
    optimizer=("sgd", {"lr": 1e-3}),
    record_every=50,
    metrics=["loss", "test_loss", "update_angle", "weight_angle", "norm_ratio", "sign_concordance",
             "weight_change_angle", "weight_distance", "representation_cka"],
    summary=[("test_loss", "all"), ("update_angle", "hidden1"), ("weight_angle", "output"), ("weight_change_angle", "all")],
    quick=dict(steps=2000, seeds=range(2), record_every=40),
    target=PublishedTarget(
        paper="Lillicrap et al. 2016", where="Fig. 2 (Fig. 1e of the 2014 preprint)",
        metric="update_angle", layer="hidden1", rule="feedback_alignment", value="< 90",
        proxy=False, note="starts near 90 degrees and shrinks", published_on="linear 30-20-10 teacher task (as here)",
    ),
)
