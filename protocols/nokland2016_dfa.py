"""Backprop, feedback alignment and direct feedback alignment on Nøkland's 1x800 tanh network.

Paper: A. Nøkland, "Direct Feedback Alignment Provides Learning in Deep Neural Networks",
NeurIPS 29 (2016), arXiv:1609.01596. DFA sends the output error through fixed random
matrices straight to every hidden layer; Nøkland found that it trains fully connected
tanh networks on MNIST to test errors close to backprop's and FA's.

Published numbers found (search tool, 2026-11-26): only the abstract's "If combined with
dropout, the method achieves 1.45% error on the permutation invariant MNIST task"
(arXiv:1609.01596 and the NeurIPS proceedings metadata; the abstract does not say which
network). The per-architecture BP/FA/DFA test errors of the paper's MNIST table
(7x240, 1x800, ... tanh networks) could not be retrieved, so none is quoted. The network
used here, one hidden layer of 800 tanh units, is the MNIST network of Nøkland's
published code as described by a re-implementation (github.com/iacolippo/
Direct-Feedback-Alignment, README: "one hidden layer of 800 Tanh units, sigmoid in the
last layer and binary crossentropy loss"); here the read-out is a softmax with
cross-entropy, and there is no dropout. For context the figure also shows Lillicrap et
al.'s MNIST errors for a 784-1000-10 logistic network (backprop 2.4 %, FA 2.1 %;
arXiv:1411.0247 Fig. 2a), a different network.

Nøkland's own code (github.com/anokland/dfa-torch, README and ``Models/``) trains with
RMSprop (default learning rate 1e-4), batches of 64, binary cross-entropy on logistic
outputs and inputs scaled to [0, 1]; for FA and DFA with tanh units it starts the forward
weights and biases at zero, and draws DFA's feedback from U(-1/sqrt(n), 1/sqrt(n)) with
n the width of the layer it reaches (the ``scale=None`` default of
``rules.DirectFeedbackAlignment``). This protocol keeps the package's defaults instead
(Glorot initialisation, SGD with momentum, softmax cross-entropy), so it reproduces the
comparison, not the training recipe.

Data: MNIST from the four IDX files when run with ``--data-dir DIR`` (then the run is
not a proxy; 10000 steps of 64 = 10.7 epochs); without it, the PROXY: scikit-learn's 8x8
digits (1437 train / 360 test) resized to 28x28 so that the same 784-800-10 network
runs (tasks.mnist_or_digits). SGD, momentum 0.9, lr 0.01, batches of 64, 5 seeds.

Measured on the proxy (2026-11-26, 5 seeds, 10000 steps, mean ± s.d.): test error
2.50 ± 0.25 % (backprop), 3.00 ± 0.32 % (FA), 3.39 ± 0.27 % (DFA); training accuracy
1.0 for all three; hidden-layer update angle to backprop 54.9 ± 1.5 (FA) and 59.7 ± 1.0
degrees (DFA). DFA's test error is within ~1 percentage point of backprop's, "almost as
good as" backprop as the abstract puts it for fully connected networks; the numbers are
not comparable with MNIST's. MNIST itself was not run here (no MNIST files on this
machine).
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks
from bioplaus.rate.spec import FeedforwardSpec

protocol = Protocol(
    name="nokland2016_dfa",
    task=tasks.mnist_or_digits(),
    model=FeedforwardSpec(name="nokland_1x800_tanh", sizes=(784, 800, 10), activations=("tanh", "linear"),
                          description="784-800-10 tanh MLP (Nøkland 2016's 1x800 tanh)"),
    rules=[rules.Backprop(), rules.FeedbackAlignment(), rules.DirectFeedbackAlignment()],
    seeds=range(5),
    steps=10000,
    batch_size=64,
    optimizer=("sgd", {"lr": 0.01, "momentum": 0.9}),
    record_every=500,
    metrics=["loss", "test_loss", "train_accuracy", "test_accuracy", "update_angle"],
    summary=[("test_accuracy", "all"), ("update_angle", "hidden1")],
    quick=dict(steps=300, batch_size=32, seeds=range(1), record_every=20),
    target=PublishedTarget(paper="Nøkland 2016", where="abstract (arXiv:1609.01596)", metric="test_accuracy",
                           rule="direct_feedback_alignment", value="0.9855", tolerance=0.01, proxy=True,
                           published_on="permutation-invariant MNIST, with dropout (network not named in the abstract)",
                           note="1.45 % test error; the default run is the digits proxy, --data-dir runs MNIST"),
)
