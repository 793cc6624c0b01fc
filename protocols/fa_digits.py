"""Backprop, feedback alignment and direct feedback alignment on the 8x8 digits: a proxy for the MNIST results of Lillicrap et al. 2016 and Nøkland 2016.

Papers: T. P. Lillicrap et al., "Random synaptic feedback weights support error
backpropagation for deep learning", Nat. Commun. 7:13276 (2016); A. Nøkland, "Direct
Feedback Alignment Provides Learning in Deep Neural Networks", NeurIPS 29 (2016).

Published results: on MNIST (784-1000-10, logistic units) feedback alignment reaches
2.1 % test error against backprop's 2.4 % (mean of 20 runs; arXiv:1411.0247, Fig. 2a;
shallow learning 7.2 %); DFA with dropout reaches 1.45 % on permutation-invariant
MNIST (Nøkland 2016, abstract). The claim reproduced: FA and DFA reach backprop-level
test accuracy while their hidden-layer updates stay tens of degrees from backprop's.

This is a PROXY: scikit-learn's 8x8 digits (1437 train / 360 test) and a 64-256-256-10
tanh MLP instead of MNIST, so the accuracies are not comparable number for number.
No FA/DFA result on these digits is published. SGD with momentum 0.9, lr 0.01,
batches of 32, 3000 steps (~67 epochs), 5 seeds.

Measured here (2026-11-26, 5 seeds): test accuracy 0.962 ± 0.004 (backprop),
0.964 ± 0.004 (FA), 0.961 ± 0.004 (DFA): the published claim (backprop-level accuracy)
holds on the proxy. Final update angles to backprop: hidden1 66.5 ± 1.7 (FA) and
68.5 ± 3.2 (DFA), hidden2 50.9 ± 2.0 and 60.0 ± 1.6 degrees; linear CKA of hidden2
with the lockstep backprop network 0.977 (FA) and 0.968 (DFA).
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks

protocol = Protocol(
    name="fa_digits",
    task=tasks.Digits(),
    model="mlp_digits",
    rules=[rules.Backprop(), rules.FeedbackAlignment(), rules.DirectFeedbackAlignment()],
    seeds=range(5),
    steps=3000,
    batch_size=32,
    optimizer=("sgd", {"lr": 0.01, "momentum": 0.9}),
    record_every=100,
    metrics=["loss", "test_loss", "train_accuracy", "test_accuracy", "update_angle", "weight_angle",
             "norm_ratio", "sign_concordance", "weight_change_angle", "weight_distance", "representation_cka"],
    summary=[("test_accuracy", "all"), ("update_angle", "hidden1"), ("update_angle", "hidden2"),
             ("weight_angle", "hidden2"), ("representation_cka", "hidden2")],
    quick=dict(steps=400, seeds=range(2), record_every=10),
    target=[
        PublishedTarget(paper="Lillicrap et al. 2016", where="arXiv:1411.0247 Fig. 2a", metric="test_accuracy",
                        rule="feedback_alignment", value="0.979", proxy=True, published_on="MNIST, 784-1000-10 logistic",
                        note="2.1 % test error against backprop's 2.4 %; here: does FA reach backprop's accuracy?"),
        PublishedTarget(paper="Nøkland 2016", where="abstract", metric="test_accuracy", rule="direct_feedback_alignment",
                        value="0.9855", proxy=True, published_on="permutation-invariant MNIST, with dropout",
                        note="1.45 % test error"),
    ],
)
