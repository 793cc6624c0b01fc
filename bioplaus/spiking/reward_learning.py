"""A reward-learning task for escape-noise neurons, where the gradient of expected reward is known.

Each trial, one of two stimuli (frozen Poisson spike patterns of ``n_inputs`` inputs,
``input_rate_hz``, ``trial_ms`` long, drawn once per seed) drives one escape-noise LIF
neuron through weights ``w`` (mV, in ``[0, w_max]``). The reward is
``R = exp(-(n - n_target(stimulus))^2 / (2 reward_width^2))`` for ``n`` output spikes, so
the two stimuli ask for different spike counts and their mean rewards differ: the
situation in which Frémaux, Sprekeler & Gerstner 2010 (J. Neurosci. 30:13326) show that
reward-modulated STDP needs a reward-prediction error (a critic per stimulus), while
R-max, whose eligibility is the score ``d log P / dw``, is unbiased with raw reward.

``trials_per_batch`` trials run in parallel as independent copies of the neuron sharing
the weights. A run first measures, at the initial weights, the gradient of the expected
reward, ``g = E[(R - R_bar(stimulus)) d log P / dw]`` over ``reference_trials`` trials (the
likelihood-ratio gradient; subtracting a per-stimulus constant leaves it unbiased), then
the condition's estimate in gradient units of the loss ``-R`` (``-M e`` per trial) over up
to ``max(alignment_trials)`` new trials: ``update_angle`` (angle between the mean of the
first ``m`` estimates and ``-g``) and ``estimate_variance`` with ``step = m``. Then it
learns for ``protocol.steps`` batches, recording the mean ``reward`` per batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from bioplaus.core import RunResult
from bioplaus.errors import BioplausError
from bioplaus.metrics import estimator_curve
from bioplaus.seeding import seed_int
from bioplaus.spiking.network import seed_brian2, use_target
from bioplaus.spiking.neurons import MODELS, neuron_group
from bioplaus.spiking.plasticity import SpikingRule, ThreeFactor, synapses
from bioplaus.spiking.spec import SpikingSpec, require_network
from bioplaus.spiking.task import SpikingTask

NETWORK_KEYS = {"n_inputs": "input spike trains", "input_rate_hz": "rate of the frozen input patterns",
                "w_initial_max_mV": "initial weights are U(0, this)"}


def reward(counts: np.ndarray, stimuli: np.ndarray, targets: tuple[int, ...], width: float) -> np.ndarray:
    """``exp(-(n - target[stimulus])^2 / (2 width^2))`` per trial."""
    return np.exp(-((counts - np.asarray(targets)[stimuli]) ** 2) / (2.0 * width**2))


@dataclass
class StimulusReward(SpikingTask):
    trial_ms: float = 500.0
    targets: tuple[int, ...] = (6, 1)
    reward_width: float = 2.0
    trials_per_batch: int = 256
    reference_trials: int = 8192
    alignment_trials: tuple[int, ...] = field(default_factory=lambda: (16, 64, 256, 1024))

    name = "stimulus_reward"

    def config(self) -> dict[str, Any]:
        return {"task": self.name, "trial_ms": self.trial_ms, "targets": list(self.targets), "reward_width": self.reward_width,
                "trials_per_batch": self.trials_per_batch, "reference_trials": self.reference_trials,
                "alignment_trials": list(self.alignment_trials)}

    def check_model(self, spec: SpikingSpec) -> str | None:
        if spec.neuron != "escape_noise_lif":
            return f"task 'stimulus_reward' needs neuron = \"escape_noise_lif\", model {spec.name!r} has {spec.neuron!r}."
        return require_network(spec, NETWORK_KEYS)

    def simulate(self, protocol: Any, rule: SpikingRule, seed: int, progress: Callable[[int], None] | None):
        if not isinstance(rule, ThreeFactor):
            raise BioplausError(f"task 'stimulus_reward' runs three-factor rules (r_stdp, r_max), got {rule.name!r}.")
        t0 = time.perf_counter()
        trials = TrialRunner(self, protocol.model, rule, np.random.default_rng(seed_int(protocol.root_seed, seed, "data")),
                             seed_int(protocol.root_seed, seed, "spiking"))
        rng = np.random.default_rng(seed_int(protocol.root_seed, seed, "init"))
        w = rng.uniform(0.0, float(protocol.model.network["w_initial_max_mV"]), trials.n_inputs)
        stim_rng = np.random.default_rng(seed_int(protocol.root_seed, seed, "stimuli"))
        rows: list[tuple] = []

        def batches(n: int):
            out = []
            for _ in range(-(-n // self.trials_per_batch)):
                stimuli = stim_rng.integers(0, 2, self.trials_per_batch)
                out.append((stimuli, *trials.run(w, stimuli)))
            stimuli, r, e_stdp, e_score = (np.concatenate(x)[:n] for x in zip(*out))
            return stimuli, r, e_stdp, e_score

        # the reference gradient of the expected reward (likelihood ratio), at the initial weights
        s_ref, r_ref, _, score_ref = batches(self.reference_trials)
        r_bar = np.array([r_ref[s_ref == k].mean() for k in range(2)])
        gradient = ((r_ref - r_bar[s_ref])[:, None] * score_ref).mean(0)  # dE[R]/dw, per mV
        s, r, e_stdp, e_score = batches(max(self.alignment_trials))
        modulator = r - r_bar[s] if rule.modulator == "rpe" else r
        eligibility = e_score if rule.eligibility == "score" else e_stdp
        estimates = -(modulator[:, None] * eligibility)  # gradient units of the loss -R
        for m, metric, value in estimator_curve(torch.from_numpy(estimates), torch.from_numpy(-gradient), list(self.alignment_trials)):
            rows.append((m, None, "update_angle" if metric == "estimate_bias_angle" else metric, "all", value))

        # learning: one update per batch, critic per stimulus
        critic = r_bar.copy()
        w_max, lr, alpha = rule.params["w_max_mV"], rule.params["learning_rate"], rule.params["critic_rate"]
        rewards = []
        for step in range(protocol.steps + 1):
            stimuli = stim_rng.integers(0, 2, self.trials_per_batch)
            r, e_stdp, e_score = trials.run(w, stimuli)
            if step % protocol.record_every == 0 or step == protocol.steps:
                rows.append((step, float(step * self.trials_per_batch), "reward", "all", float(r.mean())))
                for k in range(2):
                    rows.append((step, float(step * self.trials_per_batch), "reward", f"stimulus{k}", float(r[stimuli == k].mean())))
            rewards.append(r.mean())
            if step == protocol.steps:
                break
            modulator = r - critic[stimuli] if rule.modulator == "rpe" else r
            eligibility = e_score if rule.eligibility == "score" else e_stdp
            w = np.clip(w + lr * (modulator[:, None] * eligibility).mean(0), 0.0, w_max)
            for k in range(2):
                if np.any(stimuli == k):
                    critic[k] += alpha * (r[stimuli == k].mean() - critic[k])
            if progress is not None:
                progress(step + 1)
        return RunResult(status="done", rows=rows, steps_done=protocol.steps, duration_s=time.perf_counter() - t0, arrays={
            "gradient": gradient, "final_weights": w, "patterns_per_stimulus": trials.pattern_sizes,
            "batch_reward": np.array(rewards)})


class TrialRunner:
    """``trials_per_batch`` copies of the escape-noise neuron, each with its own input copy, in one
    explicit ``brian2.Network`` (``trials``) built once; :meth:`run` plays one batch of trials.
    Brian2 names: ``stimulus_inputs``, ``neurons``, ``plastic``, ``output_spikes``."""

    def __init__(self, task: StimulusReward, spec: SpikingSpec, rule: ThreeFactor, rng: np.random.Generator, brian_seed: int):
        import brian2 as b2

        use_target(spec.target)
        seed_brian2(brian_seed)
        self.b2, self.task = b2, task
        self.n_inputs = n = int(spec.network["n_inputs"])
        k = task.trials_per_batch
        dt = spec.dt_ms * b2.ms
        self.patterns = []
        for _ in range(2):  # frozen Poisson patterns, on the time grid
            count = rng.poisson(float(spec.network["input_rate_hz"]) * task.trial_ms / 1000.0 * n)
            times = np.floor(rng.uniform(0.0, task.trial_ms, count) / spec.dt_ms) * spec.dt_ms
            idx = rng.integers(0, n, count)
            idx, times = np.unique(np.stack([idx, times]), axis=1)
            self.patterns.append((idx.astype(int), times))
        self.pattern_sizes = np.array([len(p[0]) for p in self.patterns])
        self.inputs = b2.SpikeGeneratorGroup(n * k, np.array([], dtype=int), np.array([]) * b2.ms, dt=dt, name="stimulus_inputs")
        model = MODELS["escape_noise_lif"]
        params = {**model.parameters, **spec.parameters}
        self.neurons = neuron_group(model, k, spec.parameters, dt=dt, name="neurons")
        self.syn = synapses(self.inputs, self.neurons, rule, transmit="v_syn_post += w", dt=dt, name="plastic",
                            constants=params)  # rho_post is inlined: the synapse needs the neuron's constants
        self.syn.connect(i=np.arange(n * k), j=np.repeat(np.arange(k), n))
        self.spikes = b2.SpikeMonitor(self.neurons, record=False, name="output_spikes")
        self.net = b2.Network(self.inputs, self.neurons, self.syn, self.spikes, name="trials")
        self.v_rest = params["v_rest_mV"] * b2.mV

    def run(self, w: np.ndarray, stimuli: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One batch: rewards ``(k,)`` and eligibilities ``(k, n_inputs)`` (STDP, and score in 1/mV)."""
        b2, k, n = self.b2, len(stimuli), self.n_inputs
        now = float(self.net.t / b2.ms)
        idx = np.concatenate([self.patterns[s][0] + c * n for c, s in enumerate(stimuli)])
        times = np.concatenate([self.patterns[s][1] for s in stimuli]) + now + 1.0
        self.inputs.set_spikes(idx, times * b2.ms)
        self.syn.w = np.tile(w, k) * b2.mV
        for var in ("e_stdp", "e_score", "x", "y", "apre", "apost"):
            setattr(self.syn, var, 0)
        self.neurons.v = self.v_rest
        self.neurons.v_syn = 0 * b2.mV
        before = np.array(self.spikes.count[:])
        self.net.run((self.task.trial_ms + 1.0) * b2.ms, namespace={})
        counts = np.array(self.spikes.count[:]) - before
        r = reward(counts, stimuli, self.task.targets, self.task.reward_width)
        e_stdp = np.asarray(self.syn.e_stdp[:]).reshape(k, n)
        e_score = np.asarray(self.syn.e_score[:]).reshape(k, n) / 1000.0  # 1/V -> 1/mV
        return r, e_stdp, e_score
