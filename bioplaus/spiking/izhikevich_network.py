"""The network of Izhikevich 2007 (Cereb. Cortex 17:2443, Fig. 1): populations and connectivity.

``n_excitatory`` regular-spiking and ``n_inhibitory`` fast-spiking Izhikevich neurons;
each neuron makes ``synapses_per_neuron`` synapses onto random targets (excitatory onto
any neuron, inhibitory onto excitatory ones only), drawn with replacement as in the
author's code. Excitatory synapses are plastic (dopamine-modulated STDP,
:class:`bioplaus.spiking.plasticity.DopamineSTDP`), start at ``w_initial`` mV and stay in
``[0, w_max]``; inhibitory ones are fixed at ``w_inhibitory`` mV. Every neuron gets a
random thalamic input ``thalamic_mV * (U(0, 1) - 0.5)`` each millisecond, its uniform
number drawn by a counter-based generator from (neuron, step, the run's key)
(:mod:`bioplaus.spiking.counter_noise`: the same numbers on every target, and a loop the
compiler can vectorise). The dopamine comes from a dopamine unit
(:mod:`bioplaus.spiking.dopamine`, dopamine time constant ``tau_d_ms``, ``reward_dopamine``
per reward).

Integration follows the author's published code (ModelDB 84167): 1-ms steps; ``v``
advanced in two 0.5-ms Euler half steps and ``u`` in one, with the input of that
millisecond; synaptic input is the sum of the weights of the spikes of the previous step.
The plasticity is the exact event-driven DA-STDP of
:class:`bioplaus.spiking.plasticity.DopamineSTDP` (``update="event"``: eligibility and
weight advanced in closed form at spikes and dopamine events, instead of every 10 ms,
from an integral the neurons advance once per step, with no exponential per synapse event;
see there for how it differs from the author's discrete scheme).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bioplaus.spiking.counter_noise import function as uniform_hash_function
from bioplaus.spiking.counter_noise import noise_key
from bioplaus.spiking.dopamine import dopamine_system
from bioplaus.spiking.plasticity import DopamineSTDP, synapses
from bioplaus.spiking.spec import SpikingSpec

#: the ``[network]`` keys of the model spec that :func:`build_network` reads
NETWORK_KEYS = {
    "n_excitatory": "regular-spiking neurons", "n_inhibitory": "fast-spiking neurons",
    "synapses_per_neuron": "outgoing synapses of each neuron", "w_initial": "initial excitatory weight (mV)",
    "w_inhibitory": "inhibitory weight (mV, negative)", "thalamic_mV": "amplitude of the random input",
    "tau_d_ms": "dopamine time constant", "reward_dopamine": "dopamine per reward",
}

# v in two 0.5-ms half steps, u in one 1-ms step (Izhikevich 2007, published code; Izhikevich 2003, Eq. 1-2)
IZHIKEVICH_MS_STEP = """
i_input = thalamic * (uniform_hash(i, t_in_timesteps, noise_key) - 0.5) + i_syn
v = v + 0.5 * (0.04 * v * v / mV + 5 * v + 140 * mV - u + i_input)
v = v + 0.5 * (0.04 * v * v / mV + 5 * v + 140 * mV - u + i_input)
u = u + a * (b * v - u)
i_syn = 0 * mV
"""


def draw_targets(spec: SpikingSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The postsynaptic targets of every excitatory ``(n_excitatory, m)`` and inhibitory ``(n_inhibitory, m)``
    neuron's ``m`` synapses: any neuron, resp. any excitatory one, drawn with replacement as
    ``ceil(N*rand)`` in the author's code (the first draws of ``rng``, as :func:`build_network` makes them)."""
    net = spec.network
    n_ex, n_in, m = int(net["n_excitatory"]), int(net["n_inhibitory"]), int(net["synapses_per_neuron"])
    return rng.integers(0, n_ex + n_in, size=(n_ex, m)), rng.integers(0, n_ex, size=(n_in, m))


def draw_layout(spec: SpikingSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """What :func:`build_network` draws from ``rng``, in its order: the targets (:func:`draw_targets`)
    and the key of the thalamic input's generator (:func:`bioplaus.spiking.counter_noise.noise_key`)."""
    targets_ex, targets_in = draw_targets(spec, rng)
    return targets_ex, targets_in, noise_key(rng)


def build_network(spec: SpikingSpec, rule: DopamineSTDP, rng: np.random.Generator, sample_every_s: float = 0.0,
                  preset_rewards_s: Any = ()) -> dict[str, Any]:
    """The Brian2 objects of the network (not yet in a ``Network``), keyed by role and named as keyed.

    - ``neurons``: Izhikevich neurons in 1-ms steps (``izhikevich_step``); each holds a copy of
      the dopamine ``d`` and of the eligibility envelope ``g_c`` and its integral ``a_c``
      since the last dopamine event (``DopamineSTDP.NEURON_MODEL``, advanced in the same
      per-step code as ``v``), which the synapses read as ``d_post``, ``g_c_post``,
      ``a_c_post``; ``n_spikes`` counts each neuron's spikes.
    - ``plastic`` (excitatory DA-STDP synapses), ``inhibitory`` (fixed). Synapse 0 (neuron 0
      onto its first target, ``chosen`` = (pre, post) neuron indices) starts at 0: the synapse
      whose pre-post pairings the distal-reward task rewards (Izhikevich 2007).
    - ``dopamine``, ``catch_up``, ``dopamine_to_neurons``: the dopamine unit and its pathways
      (:func:`bioplaus.spiking.dopamine.dopamine_system`; ``sample_every_s``: interval of its
      weight samples, 0 for none; ``preset_rewards_s``: reward times written into its slots
      before the run, the benchmark's fixed rewards).
    """
    import brian2 as b2

    net = spec.network
    n_ex, n_in, m = int(net["n_excitatory"]), int(net["n_inhibitory"]), int(net["synapses_per_neuron"])
    n = n_ex + n_in
    dt = spec.dt_ms * b2.ms
    ns = {"thalamic": float(net["thalamic_mV"]) * b2.mV, "b": 0.2, "uniform_hash": uniform_hash_function()}
    equations = """
        noise_key : integer (shared)
        v : volt
        u : volt
        i_input : volt
        i_syn : volt
        a : 1
        v_reset : volt
        d_reset : volt
        n_spikes : 1
    """ + rule.NEURON_MODEL
    step, reset = IZHIKEVICH_MS_STEP + rule.neuron_step() + "\n", "v = v_reset\nu += d_reset\nn_spikes += 1"
    # the one set of dopamine constants (tau_d, tau_c, baseline): the dopamine unit reads them from here
    ns.update(rule.neuron_namespace(float(net["tau_d_ms"])))
    if rule.traces == "neuron":  # STDP traces of each neuron, shared by its synapses (DopamineSTDP, traces="neuron")
        equations += "apre : 1\napost : 1\nspiked = int(v >= 30*mV) : 1\n"
        step += "apre = apre * exp(-dt / tau_plus)\napost = apost * exp(-dt / tau_minus)\n"
        reset += "\napre += a_plus\napost += a_minus"
        ns.update({"tau_plus": rule.params["tau_plus_ms"] * b2.ms, "tau_minus": rule.params["tau_minus_ms"] * b2.ms,
                   "a_plus": rule.params["a_plus"], "a_minus": rule.params["a_minus"]})
    neurons = b2.NeuronGroup(n, equations, threshold="v >= 30*mV", reset=reset, method="exact", dt=dt, name="neurons", namespace=ns)
    neurons.run_regularly(step, when="groups", name="izhikevich_step")
    neurons.a = np.r_[np.full(n_ex, 0.02), np.full(n_in, 0.1)]  # RS / FS, Izhikevich 2003
    neurons.v_reset = -65 * b2.mV
    neurons.d_reset = np.r_[np.full(n_ex, 8.0), np.full(n_in, 2.0)] * b2.mV
    neurons.v = -65 * b2.mV
    neurons.u = 0.2 * -65 * b2.mV

    targets_ex, targets_in, key = draw_layout(spec, rng)
    neurons.noise_key = key
    plastic = synapses(neurons, neurons, rule, transmit="i_syn_post += w * mV", name="plastic")
    plastic.connect(i=np.repeat(np.arange(n_ex), m), j=targets_ex.ravel())
    plastic.w = float(net["w_initial"])
    plastic.w[0] = 0.0  # the chosen synapse starts at 0
    inhibitory = b2.Synapses(neurons, neurons, "w : 1", on_pre="i_syn_post += w * mV", namespace={}, name="inhibitory", dt=dt)
    inhibitory.connect(i=np.repeat(np.arange(n_ex, n), m), j=targets_in.ravel())
    inhibitory.w = float(net["w_inhibitory"])

    dopa = dopamine_system(plastic, neurons, rule, float(net["reward_dopamine"]), dt, sample_every_s, preset_rewards_s)
    return {"neurons": neurons, "plastic": plastic, "inhibitory": inhibitory, **dopa, "chosen": (0, int(targets_ex[0, 0])),
            "n_excitatory_synapses": n_ex * m}
