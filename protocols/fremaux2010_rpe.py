"""Frémaux, Sprekeler & Gerstner 2010: reward-modulated STDP needs a reward-prediction error; R-max does not.

Paper: N. Frémaux, H. Sprekeler & W. Gerstner, "Functional requirements for
reward-modulated spike-timing-dependent plasticity", J. Neurosci. 30:13326-13337 (2010).
Their finding (Figs. 2-4): with several stimuli whose mean rewards differ, R-STDP learns
only if the modulator is the reward minus the expected reward for that stimulus (a
critic); with raw reward its mean update carries an unsupervised bias. R-max, whose
eligibility is the score d log P / dw of an escape-noise neuron, is an unbiased policy
gradient with either modulator. The paper reports learning curves, not a single number.

Here (a proxy of their task, models/fremaux2010_escape_noise.toml, our parameters): one
escape-noise LIF neuron, 50 inputs, two frozen 10-Hz Poisson patterns of 500 ms; the
reward exp(-(n - target)^2 / 8) asks for 6 output spikes to pattern 0 and 1 to pattern 1.
At the initial weights the exact-in-expectation gradient of the expected reward is the
likelihood-ratio average over 4096 trials; each rule's mean update over m trials is
compared with it (update_angle, step = m), then each rule learns for 40 batches of 256
trials (reward). Conditions: r_stdp_rpe, r_stdp_reward, r_max_reward. Quick run (seed 0,
8 batches of 128, 2026-12-02): reward 0.536 -> 0.564 (R-STDP, RPE), 0.144 (R-STDP, raw
reward), 0.682 (R-max); R-max's angle to the gradient 65.9 -> 33.1 degrees from m = 16 to
256, R-STDP's ~89-101 (RPE) and ~70 (raw reward): R-STDP is not a gradient estimator.
"""

from bioplaus import Protocol
from bioplaus.claims import Ordering, Trend
from bioplaus.spiking.plasticity import ThreeFactor
from bioplaus.spiking.reward_learning import StimulusReward

FREMAUX = dict(paper="Frémaux, Sprekeler & Gerstner 2010", where="Figs. 2-4", proxy=True,
               published_on="their multi-stimulus task (curves only)")

protocol = Protocol(
    name="fremaux2010_rpe",
    task=StimulusReward(trial_ms=500.0, targets=(6, 1), reward_width=2.0, trials_per_batch=256, reference_trials=4096,
                        alignment_trials=(16, 64, 256, 1024)),
    model="fremaux2010_escape_noise",
    rules=[ThreeFactor("stdp", "rpe", learning_rate=2.0, w_max_mV=20.0),
           ThreeFactor("stdp", "reward", learning_rate=2.0, w_max_mV=20.0),
           ThreeFactor("score", "reward", learning_rate=20.0, w_max_mV=20.0)],
    seeds=range(2),
    steps=40,
    record_every=1,
    metrics=["update_angle", "estimate_variance", "reward"],
    summary=[("reward", "all")],
    quick=dict(task=StimulusReward(trials_per_batch=128, reference_trials=1024, alignment_trials=(16, 64, 256)),
               steps=8, seeds=range(1)),
    target=[
        Ordering(metric="reward", lower="r_stdp_reward", higher="r_stdp_rpe", margin=0.1, **FREMAUX,
                 published="R-STDP learns with the reward-prediction error, not with raw reward",
                 note="criterion: final reward with the RPE more than 0.1 above that with raw reward"),
        Trend(condition="r_max_reward", metric="reward", direction="rises", by=0.05, **FREMAUX,
              published="R-max learns with raw reward"),
        Trend(condition="r_max_reward", metric="update_angle", direction="falls", by=20, **FREMAUX,
              published="R-max is an unbiased policy gradient",
              note="criterion: the angle of the mean of m updates to the exact gradient falls by > 20 degrees over m"),
    ],
)
