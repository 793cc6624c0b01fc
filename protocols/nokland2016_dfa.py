"""Direct feedback alignment against backprop, a read-out-only network and a linear model on Nøkland's 1x800 tanh network.

Paper: A. Nøkland, "Direct Feedback Alignment Provides Learning in Deep Neural Networks",
NeurIPS 29 (2016), arXiv:1609.01596. DFA sends the output error through fixed random
matrices straight to every hidden layer; Nøkland found that it trains fully connected
tanh networks on MNIST to test errors close to backprop's and FA's.

Published numbers found (search tool, 2026-11-26): only the abstract's 1.45 % error with
dropout on permutation-invariant MNIST (network not named); the per-architecture table
could not be retrieved. The network, one hidden layer of 800 tanh units, is the MNIST
network of Nøkland's code as a re-implementation describes it (github.com/iacolippo/
Direct-Feedback-Alignment); Nøkland's code (github.com/anokland/dfa-torch) uses RMSprop
(lr 1e-4), batches of 64, logistic outputs with binary cross-entropy, zero initial
forward weights for FA and DFA, and DFA's B from U(-1/sqrt(n), 1/sqrt(n)) (the
``scale=None`` default here). We keep the package's defaults (Glorot initialisation,
softmax cross-entropy, no dropout): the comparison, not the recipe. With one hidden layer
DFA and FA are the same algorithm up to B's scale (the output error reaches the only hidden
layer through one fixed random matrix either way), so FA is not run here: DFA is compared
with backprop and the two baselines only; fa_digits and akrout2019_digits compare DFA with FA
on two hidden layers.

Data: MNIST from the four IDX files with ``--data-dir DIR`` (784-800-10; then the run is
not a proxy); without it, the PROXY: MNIST-1D (tasks.MNIST1D, 40-800-10). The 8x8 digits
(resized to 28x28) were the default before; there a read-out-only network matches every
rule, so they could not show that DFA trains the hidden layer. Adam (invariant to a
constant rescaling of a rule's estimate), batches of 64, 5 seeds, 6000 steps. Two
baselines: read-out only (``shallow``: the hidden layer stays at its initial weights) and
a linear model (``linear``: the same network with tanh replaced by the identity, a linear
map of the inputs, trained by backprop; a Condition whose model overrides the protocol's
model's activations, so it follows --data-dir). Every rule must beat both by 5 points. Step size: lr 3e-3, the best of {1e-3, 3e-3, 1e-2}
for every condition in a search on MNIST-1D's validation split (the last 1,000 training
signals held out; 2000 steps of 64, 2 seeds; 24 runs): validation accuracy backprop
0.557 / 0.608 / 0.547, FA 0.514 / 0.575 / 0.571, DFA 0.512 / 0.582 / 0.568, shallow
0.318 / 0.342 / 0.338 (2026-12-02).

Measured (full run of this script, 5 seeds, 6000 steps, 2026-12-02; mean ± s.d., ddof 1): test
accuracy backprop 0.655 ± 0.004, DFA 0.629 ± 0.010, read-out only 0.375 ± 0.017, linear 0.315 ± 0.013
(Greydanus 2020: logistic regression 32 % on MNIST-1D); training accuracy 1.0 for DFA; DFA's
hidden-layer update angle 90.3 -> 43.5 deg. Verdicts: DFA and backprop beat both baselines by more
than 5 points, DFA's angle falls, zero training error: pass; "DFA within 2 points of backprop" FAILS
(2.6 points below: on MNIST-1D DFA falls a little further behind backprop than the abstract's
"almost as good as" suggests); the MNIST number is not checkable without --data-dir. Quick run (600
steps, 2 seeds): test accuracy backprop 0.481, DFA 0.473, read-out only 0.299, linear 0.309: both
"beats the baselines by 5 points" claims pass; DFA's angle is still at ~89 degrees (88.9 -> 89.4;
full length only).
"""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Bound, Ordering, Trend, Value
from bioplaus.rate.spec import FeedforwardSpec

NETWORK = dict(activations=("tanh", "linear"), description="Nøkland 2016's 1x800 tanh network")
BASELINES = ("shallow", "linear")  # read-out only; a linear map of the inputs
NOKLAND = dict(paper="Nøkland 2016", where="abstract (arXiv:1609.01596)", proxy=True,
               published_on="permutation-invariant MNIST, with dropout (network not named in the abstract)")

protocol = Protocol(
    name="nokland2016_dfa",
    task=tasks.ByDataDir(default=tasks.MNIST1D(), with_data_dir=tasks.MNIST(),
                         model_with_data_dir=FeedforwardSpec(name="nokland_1x800_tanh", sizes=(784, 800, 10), **NETWORK)),
    model=FeedforwardSpec(name="nokland_1x800_tanh_mnist1d", sizes=(40, 800, 10), **NETWORK),
    rules=[rules.Backprop(), rules.DirectFeedbackAlignment(), rules.Shallow(),
           Condition(rules.Backprop(), model={"activations": ["linear", "linear"]}, label="linear")],  # a linear map, trained by backprop
    seeds=range(5),
    steps=6000,
    batch_size=64,
    optimizer=("adam", {"lr": 3e-3}),
    record_every=500,
    metrics=["loss", "test_loss", "train_accuracy", "test_accuracy", "update_angle", "update_norm_ratio"],
    summary=[("test_accuracy", "all"), ("update_angle", "hidden1"), ("update_norm_ratio", "all")],
    quick=dict(steps=600, seeds=range(2), record_every=50),
    target=[
        Ordering(metric="test_accuracy", lower=BASELINES, higher="direct_feedback_alignment", margin=0.05, **NOKLAND,
                 published="DFA trains the hidden layers ('zero training error even in ... very deep networks')",
                 note="criterion: DFA more than 5 points above read-out only and above a linear model"),
        Ordering(metric="test_accuracy", lower=BASELINES, higher="backprop", margin=0.05, **NOKLAND,
                 published="backprop, the reference DFA is compared with", note="criterion as for DFA (the baselines are not free)"),
        Trend(condition="direct_feedback_alignment", metric="update_angle", layer="hidden1", by=5, per_seed=True, when="full", **NOKLAND,
              published="'the network learns how to make the feedback useful'",
              note="criterion: DFA's hidden-layer angle to backprop falls from ~90 by more than 5 degrees in every seed; "
                   "in the quick run's 600 steps it has not moved yet"),
        Ordering(metric="test_accuracy", lower="backprop", higher="direct_feedback_alignment", margin=-0.02, when="full",
                 **NOKLAND, published="test performance 'almost as good as' backprop's for fully connected networks",
                 note="criterion: DFA at most 2 points below backprop"),
        Bound(condition="direct_feedback_alignment", metric="train_accuracy", op=">", bound=0.99, when="full", **NOKLAND,
              published="'zero training error'", note="criterion: training accuracy above 0.99"),
        Value(condition="direct_feedback_alignment", metric="test_accuracy", value=0.9855, tolerance=0.01, needs_data_dir=True,
              when="full", **NOKLAND, published="1.45 % test error",
              note="MNIST only (--data-dir), and without dropout here: within 1 point of the published accuracy"),
    ],
)
