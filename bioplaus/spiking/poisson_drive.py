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
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bioplaus.errors import BioplausError
from bioplaus.seeding import seed_int
from bioplaus.spiking.plasticity import STDP, SpikingRule
from bioplaus.spiking.spec import SpikingSpec, require_network
from bioplaus.spiking.task import SpikingTask, chunk_schedule, weight_fractions

NETWORK_KEYS = {"n_excitatory": "plastic excitatory inputs", "n_inhibitory": "inhibitory inputs",
                "inhibitory_rate_hz": "rate of each inhibitory input", "g_inhibitory": "inhibitory conductance step"}


@dataclass
class PoissonDrive(SpikingTask):
    """Args: ``input_rate_hz``: rate of every excitatory input; ``duration_s``: biological
    time of a run; ``near_bound``: a weight counts as near a bound within this fraction of
    ``w_max`` (0.1, i.e. 10 %); ``initial_weight``: ``"uniform"`` (U(0, w_max)) or ``"max"``."""

    input_rate_hz: float = 10.0
    duration_s: float = 1800.0
    near_bound: float = 0.1
    initial_weight: str = "uniform"

    name = "poisson_drive"

    def config(self) -> dict[str, Any]:
        return {"task": self.name, "input_rate_hz": self.input_rate_hz, "duration_s": self.duration_s,
                "near_bound": self.near_bound, "initial_weight": self.initial_weight}

    def check_model(self, spec: SpikingSpec) -> str | None:
        if spec.neuron != "lif_conductance":
            return f"task 'poisson_drive' needs neuron = \"lif_conductance\", model {spec.name!r} has {spec.neuron!r}."
        if self.initial_weight not in ("uniform", "max"):
            return f"task 'poisson_drive': field 'initial_weight' is {self.initial_weight!r}; allowed values are 'uniform' or 'max'."
        return require_network(spec, NETWORK_KEYS)

    def simulate(self, protocol: Any, rule: SpikingRule, seed: int, progress: Callable[[int], None] | None):
        import brian2 as b2

        from bioplaus.spiking.network import run, seed_brian2, use_target
        from bioplaus.spiking.neurons import MODELS, neuron_group
        from bioplaus.spiking.plasticity import synapses
        from bioplaus.train import RunResult

        if not isinstance(rule, STDP):
            raise BioplausError(f"task 'poisson_drive' runs STDP rules (stdp_additive, stdp_multiplicative), got {rule.name!r}.")
        spec: SpikingSpec = protocol.model
        net_cfg = spec.network
        chunks, chunk_s = chunk_schedule(protocol, self.duration_s)
        use_target(spec.target)
        seed_brian2(seed_int(protocol.root_seed, seed, "spiking"))
        rng = np.random.default_rng(seed_int(protocol.root_seed, seed, "init"))
        dt = spec.dt_ms * b2.ms

        n_ex = int(net_cfg["n_excitatory"])
        inputs = b2.PoissonGroup(n_ex, rates=self.input_rate_hz * b2.Hz, dt=dt)
        neuron = neuron_group(MODELS[spec.neuron], 1, spec.parameters, dt=dt)
        inhibition = b2.PoissonInput(neuron, "g_in", int(net_cfg["n_inhibitory"]), net_cfg["inhibitory_rate_hz"] * b2.Hz,
                                     weight=float(net_cfg["g_inhibitory"]))
        syn = synapses(inputs, neuron, rule, transmit="g_ex_post += w")
        syn.connect()
        syn.w = rng.uniform(0.0, rule.w_max, n_ex) if self.initial_weight == "uniform" else np.full(n_ex, rule.w_max)
        spikes = b2.SpikeMonitor(neuron)
        net = b2.Network(inputs, neuron, inhibition, syn, spikes)

        rows: list[tuple] = []
        snapshots, times = [], []

        def record(k: int, rate: float | None) -> None:
            w = np.array(syn.w[:])
            t_s = k * chunk_s
            near_max, near_zero = weight_fractions(w, rule.w_max, self.near_bound)
            rows.extend([(k, t_s, "fraction_near_max", "all", near_max), (k, t_s, "fraction_near_zero", "all", near_zero),
                         (k, t_s, "mean_weight", "all", float(np.mean(w) / rule.w_max))])
            if rate is not None:
                rows.append((k, t_s, "output_rate_hz", "all", rate))
            snapshots.append((w / rule.w_max).astype(np.float32))
            times.append(t_s)

        t0 = time.perf_counter()
        record(0, None)
        count, since = 0, 0
        for k in range(1, chunks + 1):
            run(net, chunk_s)
            since += 1
            if k % protocol.record_every == 0 or k == chunks:
                n = int(spikes.num_spikes)
                record(k, (n - count) / (since * chunk_s))
                count, since = n, 0
            if progress is not None:
                progress(k)
        return RunResult(status="done", rows=rows, steps_done=chunks, duration_s=time.perf_counter() - t0, arrays={
            "weights": np.stack(snapshots), "weights_time_s": np.array(times),
            "output_spike_times_s": np.asarray(spikes.t / b2.second, dtype=np.float64)})
