"""The feedback-alignment family on a small ConvNet: backprop, FA, DFA, sign symmetry
(uSF, brSF, frSF), Kolen-Pollack and the weight mirror on the 8x8 digits as images.

Paper: M. Akrout, C. Wilson, P. C. Humphreys, T. Lillicrap & D. Tweed, "Deep Learning
without Weight Transport", NeurIPS 32 (2019), arXiv:1904.05391. Their finding,
reproduced here in miniature: Kolen-Pollack (KP) and the weight mirror (WM) let the
feedback weights B learn the forward weights, so the angle between B and W^T goes
towards 0 degrees and they learn about as well as backprop, while feedback alignment's
B stays far from W^T (weight angle near 90 degrees) and sign symmetry sits in between.
Their ImageNet test (ResNet-18 and ResNet-50): KP and WM "nearly match backprop" and
outperform feedback alignment and sign symmetry (abstract). The per-method top-1/top-5
errors of their ImageNet table could not be retrieved with the search tool, so no
number from it is quoted here.

This is a PROXY: scikit-learn's 8x8 digits (1437 train / 360 test) as 1x8x8 images
and a conv16-pool-conv32-pool-linear ReLU network instead of ImageNet and ResNets.
Optimiser in the spirit of Akrout et al.'s (SGD, momentum 0.9, weight decay, the same
optimiser updating KP's B): lr 0.01 and a strong weight decay of 0.05, which sets KP's
convergence rate eta*lambda/(1 - momentum) = 5e-3 per step, so that B reaches W^T
within the quick run's 300 steps (ImageNet's usual 1e-4 would need ~10^5 steps).
Batches of 32, 2000 steps (~45 epochs), 5 seeds. Sign symmetry uses scaling="norm"
(|B| = |W| per layer): with s = 1 and no batch normalisation the errors grow by
~1/|w| per layer and it learns poorly, as Liao et al. 2016 found without BN or Batch
Manhattan. The weight angle of conv1 concerns a B that carries no error (nothing is
below conv1), so the figure shows conv2 and the read-out. Measured (5 seeds, 2000
steps, mean ± s.d.): test accuracy backprop 0.952 ± 0.010, KP 0.952 ± 0.014, WM
0.941 ± 0.015, uSF 0.938, frSF 0.937, brSF 0.930, FA 0.920 ± 0.024, DFA 0.888 ± 0.033;
read-out weight angle KP 0.003°, WM 12.9°, uSF 30.6°, frSF 37.2°, brSF 46.4°, FA 50.8°
(conv2: KP 0.004°, WM 13.6°, FA 81.7°). Quick run (300 steps, 2 seeds, 2026-12-02): test
accuracy backprop 0.915, KP 0.914, WM 0.897, FA 0.899; read-out weight angle KP 23.3°,
WM 15.5°, FA 58.0°. No read-out-only baseline yet: on these digits it would match most
rules (the claims here are about the feedback weights, and KP's accuracy against backprop's).
"""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Bound, Near, Ordering

AKROUT = dict(paper="Akrout et al. 2019", proxy=True, published_on="ImageNet, ResNet-18 and ResNet-50")
READOUT = dict(metric="weight_angle", layer="output")

protocol = Protocol(
    name="akrout2019_digits",
    task=tasks.MNIST1D(),
    model="mlp_mnist1d",
    rules=[rules.Backprop(), rules.FeedbackAlignment(), rules.DirectFeedbackAlignment(),
           rules.SignSymmetryUSF(scaling="norm"), rules.SignSymmetryBRSF(scaling="norm"),
           rules.SignSymmetryFRSF(scaling="norm"), rules.KolenPollack(), rules.WeightMirror(), rules.Shallow(),
           Condition(rules.Backprop(), model="linear_mnist1d", label="linear")],  # the two baselines
    seeds=range(5),
    steps=2000,
    batch_size=32,
    optimizer=("sgd", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05}),
    record_every=100,
    metrics=["loss", "test_loss", "train_accuracy", "test_accuracy", "update_angle", "weight_angle",
             "norm_ratio", "sign_concordance"],
    summary=[("test_accuracy", "all"), ("weight_angle", "hidden2"), ("weight_angle", "output"),
             ("update_angle", "hidden1")],
    quick=dict(steps=300, seeds=range(2), record_every=20),
    target=[
        Ordering(**READOUT, lower=("kolen_pollack", "weight_mirror"), higher="feedback_alignment", margin=20,
                 where="abstract and Sec. 5", **AKROUT, published="KP's and WM's feedback weights come to mirror W^T; FA's do not",
                 note="criterion: KP's and WM's read-out weight angles each more than 20 degrees below FA's"),
        Bound(condition="kolen_pollack", **READOUT, op="<", bound=5, when="full", where="abstract and Sec. 5", **AKROUT,
              published="KP's B converges to W^T", note="criterion: below 5 degrees (the quick run is too short)"),
        Bound(condition="feedback_alignment", **READOUT, op=">", bound=45, where="abstract and Sec. 5", **AKROUT,
              published="FA's B stays far from W^T", note="criterion: above 45 degrees"),
        Near(condition="kolen_pollack", reference="backprop", metric="test_accuracy", tolerance=0.01, where="abstract",
             **AKROUT, published="KP and WM 'nearly match backprop'", note="criterion: KP within 1 point of backprop"),
    ],
)
