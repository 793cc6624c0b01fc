"""STDP on one neuron driven by many Poisson inputs (Song, Miller & Abbott 2000, Figs. 1-2).

``n_excitatory`` independent Poisson inputs at ``input_rate_hz`` reach one
conductance-based LIF neuron through plastic synapses (weights ``w`` in units of the
leak conductance, bounded by ``[0, w_max]``); ``n_inhibitory`` non-plastic inhibitory
Poisson inputs at ``inhibitory_rate_hz`` add ``g_inhibitory`` each. With additive STDP
the weights are driven to the bounds (a bimodal distribution) and the output rate is
regulated as the input rate changes; multiplicative STDP gives a unimodal distribution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bioplaus.core import RunResult
from bioplaus.errors import BioplausError
from bioplaus.seeding import seed_int
from bioplaus.spiking.network import TARGETS, seed_brian2, use_target
from bioplaus.spiking.neurons import MODELS, neuron_group
from bioplaus.spiking.plasticity import STDP, SpikingRule, synapses
from bioplaus.spiking.spec import SpikingSpec, require_network
from bioplaus.spiking.standalone import compiled, run_key
from bioplaus.spiking.task import (
    SpikingTask,
    chunk_schedule,
    run_chunks,
    weight_fractions,
)

NETWORK_KEYS = {"n_excitatory": "plastic excitatory inputs", "n_inhibitory": "inhibitory inputs",
                "inhibitory_rate_hz": "rate of each inhibitory input", "g_inhibitory": "inhibitory conductance step"}


def poisson_inputs(n: int, rate_hz: float, dt: Any):
    """``n`` independent Poisson spike trains at ``rate_hz``, as a ``NeuronGroup`` that keeps
    each input's next spike time ``t_next`` (exponential intervals, accumulated exactly) and
    fires on the first step at or after it. Same statistics as ``brian2.PoissonGroup`` (which
    draws a Bernoulli(rate dt) number per input and step) to O((rate dt)^2), but a random
    number is drawn per spike instead of per input and step: at 20 Hz and dt = 0.1 ms,
    500 times fewer, which made ``PoissonGroup`` 74 % of the run time of this task."""
    import brian2 as b2

    group = b2.NeuronGroup(n, "t_next : second", threshold="t >= t_next", reset="t_next += -log(1 - rand()) / rate",
                           namespace={"rate": rate_hz * b2.Hz}, dt=dt, name="poisson_inputs")
    group.t_next = "-log(1 - rand()) / rate"
    return group


def inhibitory_inputs(neuron: Any, n: int, rate_hz: float, weight: float) -> Any:
    """``n`` independent Poisson inputs at ``rate_hz`` onto the conductance ``g_in`` of ``neuron``,
    each spike adding ``weight``: a binomial number of spikes per step (``inhibitory_binomial``,
    ``n`` trials of probability ``rate dt``) added in the ``synapses`` slot by the operation
    ``inhibitory_inputs`` of ``neuron`` (returned). The code of ``brian2.PoissonInput``, which
    Brian2 2.9 does not let one name (its name depends on how many were made before)."""
    import brian2 as b2

    neuron.namespace["inhibitory_binomial"] = b2.BinomialFunction(n, rate_hz * b2.Hz * neuron.clock.dt, name="inhibitory_binomial")
    return neuron.run_regularly(f"g_in += inhibitory_binomial()*{weight!r}", when="synapses", order=0, name="inhibitory_inputs")


@dataclass
class PoissonDrive(SpikingTask):
    """Args: ``input_rate_hz``: rate of every excitatory input; ``duration_s``: biological
    time of a run; ``near_bound``: a weight counts as near a bound within this fraction of
    ``w_max`` (0.1, i.e. 10 %); ``initial_weight``: ``"uniform"`` (U(0, w_max)) or ``"max"``;
    ``target``: the Brian2 code-generation target, overriding the model's (``""``: the model's).

    The whole run is generated code: monitors sample the weights every recording interval
    (``duration_s / steps * record_every``) and record the output spikes, so
    ``cpp_standalone`` works: one program per run configuration and process, rerun for the
    other seeds with their initial weights and generator seed on its command line
    (:mod:`bioplaus.spiking.standalone`). The network runs one extra step so that the last
    sample falls at ``duration_s``."""

    input_rate_hz: float = 10.0
    duration_s: float = 1800.0
    near_bound: float = 0.1
    initial_weight: str = "uniform"
    target: str = ""

    name = "poisson_drive"
    standalone = True

    def config(self) -> dict[str, Any]:
        return {"task": self.name, "input_rate_hz": self.input_rate_hz, "duration_s": self.duration_s,
                "near_bound": self.near_bound, "initial_weight": self.initial_weight, "target": self.target}

    def check_model(self, spec: SpikingSpec) -> str | None:
        if spec.neuron != "lif_conductance":
            return f"task 'poisson_drive' needs neuron = \"lif_conductance\", model {spec.name!r} has {spec.neuron!r}."
        if self.target and self.target not in TARGETS:
            return f"task 'poisson_drive': field 'target' is {self.target!r}; allowed values are {', '.join(map(repr, TARGETS))} or ''."
        if self.initial_weight not in ("uniform", "max"):
            return f"task 'poisson_drive': field 'initial_weight' is {self.initial_weight!r}; allowed values are 'uniform' or 'max'."
        return require_network(spec, NETWORK_KEYS)

    def _network(self, spec: SpikingSpec, rule: STDP, sample_s: float) -> tuple[Any, Any, Any, Any]:
        """``(network, synapses, spike monitor, weight monitor)``; the weights are set by the caller.
        Brian2 names: ``poisson_inputs``, ``neuron`` (with ``inhibitory_inputs``), ``plastic``,
        ``output_spikes``, ``weight_samples`` in the network ``poisson_drive``."""
        import brian2 as b2

        net_cfg = spec.network
        dt = spec.dt_ms * b2.ms
        n_ex = int(net_cfg["n_excitatory"])
        inputs = poisson_inputs(n_ex, self.input_rate_hz, dt)
        neuron = neuron_group(MODELS[spec.neuron], 1, spec.parameters, dt=dt, name="neuron")
        inhibitory_inputs(neuron, int(net_cfg["n_inhibitory"]), float(net_cfg["inhibitory_rate_hz"]), float(net_cfg["g_inhibitory"]))
        syn = synapses(inputs, neuron, rule, transmit="g_ex_post += w", name="plastic")
        syn.connect(i=np.arange(n_ex), j=np.zeros(n_ex, dtype=int))
        spikes = b2.SpikeMonitor(neuron, name="output_spikes")
        weights = b2.StateMonitor(syn, "w", record=np.arange(n_ex), dt=sample_s * b2.second, when="end", name="weight_samples")
        return b2.Network(inputs, neuron, syn, spikes, weights, name="poisson_drive"), syn, spikes, weights

    def _standalone_run(self, protocol: Any, rule: STDP, spec: SpikingSpec, chunks: int, sample_s: float, brian_seed: int,
                        w0: np.ndarray, progress: Callable[[int], None] | None) -> tuple[Any, Any, Any]:
        """Run on cpp_standalone, reusing the program compiled for an earlier seed of the same run
        configuration when this process has it (:mod:`bioplaus.spiking.standalone`): the seed of
        Brian2's generators and the initial weights go on the program's command line."""
        def build() -> dict[str, Any]:
            net, syn, spikes, weights = self._network(spec, rule, sample_s)
            syn.w = w0
            run_chunks(net, "cpp_standalone", self.duration_s, spec.dt_ms / 1000.0, chunks, None)  # recorded, run below
            return {"syn": syn, "spikes": spikes, "weights": weights}

        program = compiled(run_key(self, spec, rule, protocol), build)
        syn, spikes, weights = (program.objects[k] for k in ("syn", "spikes", "weights"))
        program.run(brian_seed, {syn.w: w0})
        if progress is not None:
            progress(chunks)
        return syn, spikes, weights

    def simulate(self, protocol: Any, rule: SpikingRule, seed: int, progress: Callable[[int], None] | None):
        import brian2 as b2

        if not isinstance(rule, STDP):
            raise BioplausError(f"task 'poisson_drive' runs STDP rules (stdp_additive, stdp_multiplicative), got {rule.name!r}.")
        spec: SpikingSpec = protocol.model
        net_cfg = spec.network
        chunks, chunk_s = chunk_schedule(protocol, self.duration_s)
        sample_s = chunk_s * protocol.record_every
        target = self.target or spec.target
        t0 = time.perf_counter()
        brian_seed = seed_int(protocol.root_seed, seed, "spiking")
        rng = np.random.default_rng(seed_int(protocol.root_seed, seed, "init"))
        n_ex = int(net_cfg["n_excitatory"])
        w0 = rng.uniform(0.0, rule.w_max, n_ex) if self.initial_weight == "uniform" else np.full(n_ex, rule.w_max)
        if target == "cpp_standalone":
            syn, spikes, weights = self._standalone_run(protocol, rule, spec, chunks, sample_s, brian_seed, w0, progress)
        else:
            use_target(target)
            seed_brian2(brian_seed)
            net, syn, spikes, weights = self._network(spec, rule, sample_s)
            syn.w = w0
            run_chunks(net, target, self.duration_s, spec.dt_ms / 1000.0, chunks, progress)
        times = np.asarray(weights.t / b2.second)
        w_all = np.asarray(weights.w).T / rule.w_max  # (samples, synapses)
        spike_t = np.asarray(spikes.t / b2.second, dtype=np.float64)
        rows: list[tuple] = []
        for s_idx, t_s in enumerate(times):
            k = s_idx * protocol.record_every
            near_max, near_zero = weight_fractions(w_all[s_idx], 1.0, self.near_bound)
            rows.extend([(k, float(t_s), "fraction_near_max", "all", near_max), (k, float(t_s), "fraction_near_zero", "all", near_zero),
                         (k, float(t_s), "mean_weight", "all", float(np.mean(w_all[s_idx])))])
            if s_idx > 0:
                n = np.count_nonzero((spike_t >= times[s_idx - 1]) & (spike_t < t_s))
                rows.append((k, float(t_s), "output_rate_hz", "all", n / (t_s - times[s_idx - 1])))
        return RunResult(status="done", rows=rows, steps_done=chunks, duration_s=time.perf_counter() - t0, arrays={
            "weights": w_all.astype(np.float32), "weights_time_s": times, "output_spike_times_s": spike_t})
