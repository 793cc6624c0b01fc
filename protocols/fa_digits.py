"""Backprop, feedback alignment, DFA and a read-out-only baseline on MNIST-1D: a proxy for the MNIST results of Lillicrap et al. 2016 and Nøkland 2016.

Papers: T. P. Lillicrap et al., "Random synaptic feedback weights support error
backpropagation for deep learning", Nat. Commun. 7:13276 (2016); A. Nøkland, "Direct
Feedback Alignment Provides Learning in Deep Neural Networks", NeurIPS 29 (2016).
Published (arXiv:1411.0247 Fig. 2a, MNIST, 784-1000-10 logistic, 20 runs): test error
2.4 % backprop, 2.1 % FA, 7.2 % shallow (read-out only): FA matches backprop and both
beat the read-out-only network by ~5 points. DFA with dropout: 1.45 % (Nøkland, abstract).

PROXY: MNIST-1D (Greydanus 2020; tasks.MNIST1D, 4,000 train / 1,000 test) and a
40-256-256-10 tanh MLP (models/mlp_mnist1d.toml; two hidden layers, so DFA differs from
FA). The name is kept for stored results; the 8x8 digits were dropped as default because
a read-out-only network matches every rule there (numbers at the end).

Step size: Adam (invariant to a constant rescaling of a rule's estimate), batches of 32,
lr from a search on the validation split (tasks.MNIST1D(split="validation"), the last
1,000 training signals held out; 3000 steps, 2 seeds, 36 runs): validation accuracy at lr
3e-4 / 1e-3 / 3e-3: backprop 0.570 / 0.664 / 0.651, FA 0.468 / 0.573 / 0.530, DFA 0.474 /
0.560 / 0.560: 1e-3 for all three. Read-out only does best higher: 0.318 at 1e-3, 0.354,
0.385, 0.380 at 3e-3, 1e-2, 3e-2; Protocol has one optimizer for all conditions, so it
runs at 1e-3 here, and the margins claimed below also hold against its best (0.385). A
linear model (logistic regression on the 40 inputs, models/linear_mnist1d.toml, trained by
backprop as Condition(..., model=...); 32 % published) is the second baseline: quick run
0.276 ± 0.003 (2 seeds), every rule more than 5 points above it (pass); its full-length
value is not measured yet.

Measured (full run, 5 seeds, 6000 steps, 2026-12-02; mean ± s.d. over seeds, ddof 1): test
accuracy backprop 0.686 ± 0.006, FA 0.606 ± 0.014, DFA 0.601 ± 0.010, read-out only
0.353 ± 0.014; hidden1 update angle to backprop 89.7 -> 72.9 (FA) and 90.8 -> 65.1 (DFA),
hidden2 ~91 -> 31.6 (both). Verdicts: the three "beats read-out only" claims, both angle
trends and backprop's 68 % pass; "FA within 1 point of backprop" FAILS: on MNIST-1D FA
ends 8 points below backprop, unlike Lillicrap et al.'s MNIST result. Quick run (1000
steps, 2 seeds): backprop 0.579, FA 0.469, DFA 0.463, read-out only 0.282; hidden1 angles
90.7 -> 81.5 (FA), 88.7 -> 80.6 (DFA). On the 8x8 digits (the earlier default; issue 15's audit)
read-out only reaches 0.964 ± 0.008, backprop / FA / DFA 0.962 / 0.964 / 0.961.
"""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Ordering, Trend, Value

LILLICRAP = dict(paper="Lillicrap et al. 2016", where="arXiv:1411.0247 Fig. 2a", proxy=True,
                 published_on="MNIST, 784-1000-10 logistic, 20 runs")
ACC = dict(metric="test_accuracy")

protocol = Protocol(
    name="fa_digits",
    task=tasks.MNIST1D(),
    model="mlp_mnist1d",
    rules=[rules.Backprop(), rules.FeedbackAlignment(), rules.DirectFeedbackAlignment(), rules.Shallow(),
           Condition(rules.Backprop(), model="linear_mnist1d", label="linear")],  # logistic regression, trained by backprop
    seeds=range(5),
    steps=6000,
    batch_size=32,
    optimizer=("adam", {"lr": 1e-3}),
    record_every=200,
    metrics=["loss", "test_loss", "train_accuracy", "test_accuracy", "update_angle", "update_norm_ratio", "weight_angle",
             "norm_ratio", "sign_concordance", "weight_change_angle", "weight_distance", "representation_cka"],
    summary=[("test_accuracy", "all"), ("update_angle", "hidden1"), ("update_angle", "hidden2"),
             ("weight_angle", "hidden2"), ("representation_cka", "hidden2")],
    quick=dict(steps=1000, seeds=range(2), record_every=50),
    target=[
        Ordering(**ACC, lower="shallow", higher="backprop", margin=0.05, **LILLICRAP,
                 published="error 2.4 % (backprop) vs 7.2 % (shallow)", note="criterion: more than 5 points above read-out only"),
        Ordering(**ACC, lower="shallow", higher="feedback_alignment", margin=0.05, **LILLICRAP,
                 published="error 2.1 % (FA) vs 7.2 % (shallow)", note="criterion: more than 5 points above read-out only"),
        Ordering(**ACC, lower="shallow", higher="direct_feedback_alignment", margin=0.05, paper="Nøkland 2016",
                 where="abstract", proxy=True, published="DFA trains the hidden layers of deep networks (1.45 % on MNIST)",
                 published_on="permutation-invariant MNIST, with dropout"),
        Ordering(**ACC, lower="backprop", higher="feedback_alignment", margin=-0.01, when="full", **LILLICRAP,
                 published="error 2.1 % (FA) vs 2.4 % (backprop)",
                 note="criterion: FA's accuracy at most 1 point below backprop's; the paper's claim at convergence"),
        Trend(condition="feedback_alignment", metric="update_angle", layer="hidden1", by=5, per_seed=True, **LILLICRAP,
              published="FA's hidden-layer updates come to lie within 90° of backprop's",
              note="criterion: the angle falls from ~90 by more than 5 degrees in every seed (it stays at ~90 without learning)"),
        Trend(condition="direct_feedback_alignment", metric="update_angle", layer="hidden1", by=5, per_seed=True,
              paper="Nøkland 2016", where="abstract", proxy=True, published_on="permutation-invariant MNIST",
              published="the feedback alignment principle: 'the network learns how to make the feedback useful'",
              note="criterion as for FA"),
        Ordering(**ACC, lower="linear", higher=("backprop", "feedback_alignment", "direct_feedback_alignment"), margin=0.05,
                 paper="Greydanus 2020", where="README table", proxy=True, published="logistic regression 32 %, MLP 68 %",
                 published_on="MNIST-1D", note="criterion: every rule's network more than 5 points above a linear model"),
        Value(condition="linear", **ACC, value=0.32, tolerance=0.05, when="full", paper="Greydanus 2020", where="README table",
              proxy=False, published="logistic regression 32 %", published_on="MNIST-1D"),
        Value(condition="backprop", **ACC, value=0.68, tolerance=0.05, when="full", paper="Greydanus 2020", where="README table",
              proxy=True, published="MLP 68 %", published_on="MNIST-1D, the paper's MLP (a different network)",
              note="anchors the dataset: a broken MNIST-1D would not reach it"),
    ],
)
