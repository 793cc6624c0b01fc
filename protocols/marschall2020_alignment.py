"""Marschall, Cho & Savin 2020 (JMLR 21:135), Sec. 6: online learning rules for RNNs compared by gradient alignment.

Paper: O. Marschall, K. Cho & C. Savin, "A unified framework of online learning algorithms
for training recurrent neural networks", JMLR 21(135):1-34, 2020 (arXiv:1907.02649).

Published result (qualitative, from the abstract; we found no table of angles to quote):
"performances cluster according to our criteria. Although a similar clustering is also
observed for gradient alignment, alignment with exact methods does not alone explain
ultimate performance, especially for stochastic algorithms." RTRL computes the exact
gradient (angle 0 to BPTT).

Here (a proxy): a leaky tanh RNN of n = 32 units (float64) on one-value delayed recall
(delay 8, T = 10) instead of the paper's Add and Mimic tasks; every rule except SAB;
Adam, lr 3e-3, batches of 32 sequences, one update per batch (the online rules estimate
forwards in time within each sequence; the paper updates every time step on a stream, which
``update_every=1`` on an online rule does, with angles through the parameter history).
At each recording step: the angle of each rule's update to the exact BPTT gradient of the
same sequences (``recurrent`` = [W_rec W_in b]), |estimate| / |gradient| and the test loss.
The issue's ``norm_ratio`` (|rule update| / |true gradient|) is stored as
``update_norm_ratio``: in this project ``norm_ratio`` already names |B| / |W| of a feedback matrix.
Measured here (3 seeds, 800 updates, final test loss; mean angle over training): RTRL
4e-14 deg (= BPTT, 4.3e-5); KF-RTRL 52 deg (6.2e-5); synthetic gradients 59 deg (0.018);
truncated BPTT 65 deg (5.9e-4); e-prop 76 deg (8.6e-4); RFLO 84 deg (0.024); UORO 85 deg
(2.1e-4); REINFORCE 86 deg (2.3e-3): as in the paper, the angle does not order the losses.
Checked claims: RTRL's angle below 1e-6 deg (the implementation); the rank inversion, synthetic gradients'
mean angle more than 10 deg below UORO's while UORO's final test loss is at most half of theirs; RTRL's
final test loss below every approximate rule's (KF-RTRL, within noise of RTRL here, is left out).
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks
from bioplaus.claims import Ordering, Ratio

MARSCHALL = dict(paper="Marschall, Cho & Savin 2020", where="abstract; Sec. 6", proxy=True,
                 published_on="Add and Mimic tasks, 32-unit RNNs")

protocol = Protocol(
    name="marschall2020_alignment",
    task=tasks.DelayedRecall(delay=8),
    model="rnn32_delayed_recall",
    rules=[
        rules.BPTT(), rules.RTRL(), rules.TruncatedBPTT(k=2), rules.UORO(), rules.KFRTRL(),
        rules.ReinforceRTRL(sigma=0.05), rules.EProp(), rules.RFLO(), rules.SyntheticGradients(k=2, bootstrap=1.0, lr=0.05),
    ],
    seeds=range(3),
    steps=800,
    batch_size=32,
    optimizer=("adam", {"lr": 3e-3}),
    record_every=40,
    metrics=["loss", "test_loss", "update_angle", "update_norm_ratio"],
    summary=[("test_loss", "all"), ("update_angle", "recurrent"), ("update_norm_ratio", "recurrent")],
    quick=dict(steps=60, seeds=[0], record_every=10),
    target=[
        PublishedTarget(paper="Marschall, Cho & Savin 2020", where="Sec. 6 (gradient alignment)", metric="update_angle",
                        layer="recurrent", rule="rtrl", value="< 1e-6", proxy=True,
                        note="RTRL is exact (a check of the implementation, not of the paper's finding)"),
        # "alignment with exact methods does not alone explain ultimate performance, especially for stochastic
        # algorithms": a rank inversion between a stochastic rule (UORO) and a deterministic one (synthetic gradients)
        Ordering(metric="update_angle", layer="recurrent", lower="synthetic_gradients", higher="uoro", margin=10.0, at="mean",
                 **MARSCHALL, published="synthetic gradients align better with BPTT than UORO does ..."),
        Ratio(condition="uoro", reference="synthetic_gradients", metric="test_loss", at_most=0.5, **MARSCHALL,
              published="... yet UORO ends at a lower loss: alignment does not alone explain performance"),
        # exact methods perform best
        Ordering(metric="test_loss", lower="rtrl", higher=("uoro", "truncated_bptt", "eprop", "rflo", "reinforce_rtrl",
                                                           "synthetic_gradients"), margin=0.0, **MARSCHALL,
                 published="the exact method (RTRL) reaches the lowest loss"),
    ],
)
