"""The distal reward problem (Izhikevich 2007, Cereb. Cortex 17:2443, Fig. 1).

A network of ``n_excitatory`` regular-spiking and ``n_inhibitory`` fast-spiking
Izhikevich neurons; each neuron makes ``synapses_per_neuron`` synapses onto random
targets (excitatory onto any neuron, inhibitory onto excitatory ones only), drawn with
replacement as in the author's code. Excitatory synapses are plastic (dopamine-modulated
STDP, :class:`bioplaus.spiking.plasticity.DopamineSTDP`), start at ``w_initial`` mV and
stay in ``[0, w_max]``; inhibitory ones are fixed at ``w_inhibitory`` mV. Every neuron gets
a random thalamic input ``thalamic_mV * (U(0, 1) - 0.5)`` each millisecond, its uniform
number drawn by a counter-based generator from (neuron, step, the run's key)
(:mod:`bioplaus.spiking.counter_noise`: the same numbers on every target, and a loop the
compiler can vectorise).

One excitatory synapse (neuron 0 onto its first target) is chosen and set to 0. Whenever
its postsynaptic neuron fires within ``reward_window_ms`` after its presynaptic neuron, a
reward is scheduled ``1 + U(0, 2)`` s later and raises dopamine by ``reward_dopamine``
(dopamine decays with ``tau_d``). The reinforced synapse grows to ``w_max`` while the
others stay low.

Integration follows the author's published code (ModelDB 84167): 1-ms steps; ``v``
advanced in two 0.5-ms Euler half steps and ``u`` in one, with the input of that
millisecond; synaptic input is the sum of the weights of the spikes of the previous step.
The plasticity is the exact event-driven DA-STDP of
:class:`bioplaus.spiking.plasticity.DopamineSTDP` (``update="event"``: eligibility and
weight advanced in closed form at spikes and dopamine events, instead of every 10 ms,
from an integral the neurons advance once per step, with no exponential per synapse event;
see there for how it differs from the author's discrete scheme). The reward schedule
(detection of the chosen synapse's pre->post pairings, the 1-3 s delays, dopamine
release) runs in generated code (:func:`build_network`), so a whole run is one Brian2
``run`` and every target, cpp_standalone included, can run it; metrics are sampled by
monitors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bioplaus.errors import BioplausError
from bioplaus.seeding import seed_int
from bioplaus.spiking.plasticity import DopamineSTDP, SpikingRule
from bioplaus.spiking.spec import SpikingSpec, require_network
from bioplaus.spiking.task import SpikingTask, chunk_schedule, run_chunks

NETWORK_KEYS = {
    "n_excitatory": "regular-spiking neurons", "n_inhibitory": "fast-spiking neurons",
    "synapses_per_neuron": "outgoing synapses of each neuron", "w_initial": "initial excitatory weight (mV)",
    "w_inhibitory": "inhibitory weight (mV, negative)", "thalamic_mV": "amplitude of the random input",
    "tau_d_ms": "dopamine time constant", "reward_dopamine": "dopamine per reward",
    "reward_window_ms": "post-after-pre window that earns a reward",
}

# v in two 0.5-ms half steps, u in one 1-ms step (Izhikevich 2007, published code; Izhikevich 2003, Eq. 1-2)
IZHIKEVICH_MS_STEP = """
i_input = thalamic * (uniform_hash(i, t_in_timesteps, noise_key) - 0.5) + i_syn
v = v + 0.5 * (0.04 * v * v / mV + 5 * v + 140 * mV - u + i_input)
v = v + 0.5 * (0.04 * v * v / mV + 5 * v + 140 * mV - u + i_input)
u = u + a * (b * v - u)
i_syn = 0 * mV
"""


N_SLOTS = 16  # pending rewards the dopamine unit can hold (each waits 1-3 s); more are counted as lost
NEVER_S = 1e9  # "no reward pending"


def _dopamine_unit(n_slots: int) -> tuple[str, str, str]:
    """Equations, threshold and reset of the dopamine unit (see :func:`build_network`)."""
    slots = range(n_slots)
    equations = "\n".join(["d_r : 1", "t_r : second", "t_next : second", "w_sum : 1", "t_first : second", "t_cue : second",
                           "t_cue_prev : second", "slot : integer", "lost : integer", "n_rewards : integer", "n_due : 1",
                           "a_c : second", "g_c : 1", "t_epoch : second"]
                          + [f"t_due{k} : second" for k in slots]
                          + ["due = " + " + ".join(f"int(t + 0.5 * dt >= t_due{k})" for k in slots) + " : 1"])
    threshold = "t + 0.5 * dt >= t_first or t + 0.5 * dt >= t_next or t + 0.5 * dt >= t_epoch"
    reset = ["n_due = due"]
    reset += [f"t_due{k} = int(t + 0.5 * dt < t_due{k}) * t_due{k} + int(t + 0.5 * dt >= t_due{k}) * never" for k in slots]
    reset += ["t_first = never"] + [f"t_first = int(t_due{k} < t_first) * t_due{k} + int(t_due{k} >= t_first) * t_first" for k in slots]
    # the envelope and integral of DopamineSTDP(update="event") since the last event, in closed form, for the catch-up
    reset += ["g_c = exp(-(t - t_r) / tau_c)",
              "a_c = baseline * tau_c * (1 - g_c) + d_r * (1 - g_c * exp(-(t - t_r) / tau_d)) / (1 / tau_c + 1 / tau_d)",
              "d_r = d_r * exp(-(t - t_r) / tau_d) + reward_dopamine * n_due", "t_r = t", "n_rewards = n_rewards + int(n_due)",
              "t_next = t_next + int(t + 0.5 * dt >= t_next) * sample", "t_epoch = t + epoch", "w_sum = 0"]
    return equations, threshold, "\n".join(reset)


def _cue_code(n_slots: int) -> str:
    """The pathway from the chosen synapse's pre (``role`` 0) and post (``role`` 1) neurons to the dopamine unit."""
    lines = ["is_pre = int(role == 0)",
             "t_cue_prev_post = is_pre * t_cue_post + (1 - is_pre) * t_cue_prev_post",
             "t_cue_post = is_pre * t + (1 - is_pre) * t_cue_post",
             # the latest pre spike before this step (a pre spike of this same step has no causal order)
             "ref = t_cue_post - int(t_cue_post > t - 0.5 * dt) * (t_cue_post - t_cue_prev_post)",
             "lag_r = t - ref",
             "hit = (1 - is_pre) * int(lag_r > 0.5 * dt and lag_r < window + 0.5 * dt)",
             "t_new = t + 1 * second + 2 * second * rand()"]
    for k in range(n_slots):
        lines += [f"take{k} = hit * int(slot_post == {k})",
                  f"lost_post += take{k} * int(t_due{k}_post < never)",
                  f"t_due{k}_post = take{k} * t_new + (1 - take{k}) * t_due{k}_post"]
    lines += ["first = hit * int(t_new < t_first_post)",
              "t_first_post = first * t_new + (1 - first) * t_first_post",
              f"slot_post = (slot_post + hit) % {n_slots}"]
    return "\n".join(lines)


def dopamine_system(plastic: Any, neurons: Any, rule: DopamineSTDP, tau_d_ms: float, reward_dopamine: float, dt: Any,
                    sample_every_s: float = 0.0, preset_rewards_s: Any = ()) -> dict[str, Any]:
    """The dopamine unit and its pathways (see :func:`build_network`) for the DA-STDP synapses
    ``plastic`` onto ``neurons`` (which need the variables ``DopamineSTDP.NEURON_MODEL``,
    advanced every step by ``DopamineSTDP.neuron_step()``; their ``g_c`` is set to 1 here):
    ``dopamine``, ``catch_up`` (onto every plastic synapse) and ``dopamine_to_neurons``.
    Both pathways run after the resets, so that the plastic synapses' own events of the step
    come first and the monitors (``when="end"``) see the sums and weights of the event."""
    import brian2 as b2

    from bioplaus.spiking.neurons import namespace

    tau_d = tau_d_ms * b2.ms
    # the neurons advance d and the eligibility integral with their own constants; the dopamine unit's
    # closed form must use the same ones, or the catch-up would mix two different integrals
    expected = rule.neuron_namespace(tau_d_ms)
    given = getattr(neurons, "namespace", None) or {}
    for name, value in expected.items():
        if name not in given or abs(float(given[name]) - float(value)) > 1e-12 * max(1.0, abs(float(value))):
            raise BioplausError(f"dopamine_system: the neurons' namespace must hold {name} = {value} "
                                f"(DopamineSTDP.neuron_namespace({tau_d_ms})), got {given.get(name, 'nothing')}.")
    never = NEVER_S * b2.second
    sample = (sample_every_s if sample_every_s > 0 else NEVER_S) * b2.second
    equations, threshold, reset = _dopamine_unit(N_SLOTS)
    epoch = rule.params["tau_c_ms"] * b2.ms  # renormalise the eligibility envelope at least this often
    dopamine = b2.NeuronGroup(1, equations, threshold=threshold, reset=reset, dt=dt, name="dopamine", namespace={
        "tau_d": tau_d, "reward_dopamine": reward_dopamine, "sample": sample, "never": never, "epoch": epoch,
        "tau_c": rule.params["tau_c_ms"] * b2.ms, "baseline": rule.params["baseline"]})
    dopamine.t_epoch = epoch
    neurons.g_c = 1
    dopamine.t_next = 0 * b2.second if sample_every_s > 0 else never
    preset = np.sort(np.asarray(preset_rewards_s, dtype=np.float64))
    if len(preset) > N_SLOTS:
        raise BioplausError(f"dopamine_system: preset_rewards_s holds {len(preset)} rewards; at most {N_SLOTS} fit the dopamine unit.")
    for k in range(N_SLOTS):
        setattr(dopamine, f"t_due{k}", (preset[k] if k < len(preset) else NEVER_S) * b2.second)
    dopamine.t_first = (preset[0] if len(preset) else NEVER_S) * b2.second
    dopamine.slot = len(preset) % N_SLOTS
    dopamine.t_cue = dopamine.t_cue_prev = -never
    gather = "w_sum_pre += w_post"
    if rule.update == "event":
        gather = rule.renormalise() + "\n" + gather
    catch_up = b2.Synapses(dopamine, plastic, on_pre=gather, dt=dt, name="catch_up", namespace=namespace(rule.synapse("").constants))
    catch_up.connect()
    catch_up.pre.when = "after_resets"
    # then (order 1) the neurons' copies: the dopamine jumps, the envelope and its integral restart
    to_neurons = b2.Synapses(dopamine, neurons, on_pre="d_post = d_post + reward_dopamine * n_due_pre\n"
                             "a_c_post = 0 * second\ng_c_post = 1", dt=dt, name="dopamine_to_neurons", order=1,
                             namespace={"reward_dopamine": reward_dopamine})
    to_neurons.connect()
    to_neurons.pre.when = "after_resets"
    return {"dopamine": dopamine, "catch_up": catch_up, "dopamine_to_neurons": to_neurons}


def cue_pathway(neurons: Any, dopamine: Any, pre: int, post: int, window_ms: float, dt: Any):
    """Synapses from neurons ``pre`` (``role`` 0) and ``post`` (``role`` 1) onto the dopamine
    unit of :func:`dopamine_system` that schedule a reward 1-3 s after every post spike
    following the latest earlier pre spike by ``0 < lag <= window_ms`` (see :func:`build_network`)."""
    import brian2 as b2

    cue = b2.Synapses(neurons, dopamine, "role : integer (constant)", on_pre=_cue_code(N_SLOTS), dt=dt, name="cue",
                      namespace={"window": window_ms * b2.ms, "never": NEVER_S * b2.second})
    cue.connect(i=[pre, post], j=[0, 0])
    cue.role = [0, 1]
    return cue


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
    from bioplaus.spiking.counter_noise import noise_key

    targets_ex, targets_in = draw_targets(spec, rng)
    return targets_ex, targets_in, noise_key(rng)


def build_network(spec: SpikingSpec, rule: DopamineSTDP, rng: np.random.Generator, sample_every_s: float = 0.0,
                  preset_rewards_s: Any = ()) -> dict[str, Any]:
    """The Brian2 objects of the network (not yet in a ``Network``), keyed by role.

    - ``neurons``: Izhikevich neurons in 1-ms steps; each holds a copy of the dopamine
      ``d`` and of the eligibility envelope ``g_c`` and its integral ``a_c`` since the last
      dopamine event (``DopamineSTDP.NEURON_MODEL``, advanced in the same per-step code as
      ``v``), which the synapses read as ``d_post``, ``g_c_post``, ``a_c_post``;
      ``n_spikes`` counts each neuron's spikes.
    - ``plastic`` (excitatory DA-STDP synapses; synapse 0 is the chosen one), ``inhibitory`` (fixed).
    - ``dopamine``: one unit holding the dopamine state and up to ``N_SLOTS`` pending
      reward times ``t_due0...``. It fires at every dopamine event: on the 1-ms step
      nearest to a pending reward time, every ``sample_every_s`` (0: never; a sample
      of the weights), and at the latest ``tau_c`` after its previous event (to renormalise
      the eligibility envelope). Its reset computes the envelope and its integral at the
      event in closed form and adds ``reward_dopamine`` per reward due to its own dopamine
      (``n_rewards`` counts them); then, after the resets, its spike brings every plastic
      synapse up to date, renormalises it and sums the weights into ``w_sum`` (pathway
      ``catch_up``), and (``dopamine_to_neurons``, order 1) restarts the neurons' copies.
    - ``cue``: the chosen synapse's pre and post neurons onto the dopamine unit. Every
      post spike that follows the latest earlier pre spike by ``0 < lag <= reward_window``
      writes ``t + 1 s + U(0, 2 s)`` into the next slot (round robin; ``lost`` counts
      pending rewards overwritten). All of it runs in generated code, so cpp_standalone
      needs no Python between steps.

    ``preset_rewards_s``: reward times written into the slots before the run (the benchmark's
    fixed rewards; at most ``N_SLOTS``). ``chosen`` = (pre, post) neuron indices of the chosen synapse.
    """
    import brian2 as b2

    from bioplaus.spiking import counter_noise
    from bioplaus.spiking.plasticity import synapses

    net = spec.network
    n_ex, n_in, m = int(net["n_excitatory"]), int(net["n_inhibitory"]), int(net["synapses_per_neuron"])
    n = n_ex + n_in
    dt = spec.dt_ms * b2.ms
    # the dopamine constants (tau_d, tau_c, baseline) come from rule.neuron_namespace below
    ns = {"thalamic": float(net["thalamic_mV"]) * b2.mV, "b": 0.2, "uniform_hash": counter_noise.function()}
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

    dopa = dopamine_system(plastic, neurons, rule, float(net["tau_d_ms"]), float(net["reward_dopamine"]), dt,
                           sample_every_s, preset_rewards_s)
    dopamine = dopa["dopamine"]
    pre, post = 0, int(targets_ex[0, 0])
    cue = cue_pathway(neurons, dopamine, pre, post, float(net["reward_window_ms"]), dt)
    return {"neurons": neurons, "plastic": plastic, "inhibitory": inhibitory, **dopa, "cue": cue, "chosen": (pre, post),
            "n_excitatory_synapses": n_ex * m}


def reward_times(pre_times: np.ndarray, post_times: np.ndarray, window_s: float, delays_s: np.ndarray) -> np.ndarray:
    """Reward times: for every post spike that follows the latest pre spike by at most
    ``window_s`` (``0 < t_post - t_pre <= window``), one reward ``delays_s[k]`` later.
    A numpy reference for the in-network schedule of :func:`build_network` (tests)."""
    if len(pre_times) == 0 or len(post_times) == 0:
        return np.array([])
    idx = np.searchsorted(pre_times, post_times, side="left") - 1
    ok = idx >= 0
    lag = np.where(ok, post_times - pre_times[np.clip(idx, 0, None)], np.inf)
    hits = post_times[(lag > 0) & (lag <= window_s + 1e-12)]
    return hits + delays_s[: len(hits)]


@dataclass
class DistalReward(SpikingTask):
    """Args: ``duration_s``: biological time of a run (3600 s in the paper);
    ``snapshot_every_s``: how often all excitatory weights are stored (``.npz``; a
    multiple of the recording interval ``duration_s / steps * record_every``);
    ``target``: the Brian2 code-generation target, overriding the model's (``""``: the
    model's). The whole run, rewards included, is generated code, so every target works.
    ``cpp_standalone`` compiles the program once per run configuration and process and
    reruns it for the other seeds (:mod:`bioplaus.spiking.standalone`: the seed of Brian2's
    generators is set on the program's command line and the per-seed connectivity is
    written into its static arrays), in a temporary folder removed when the process ends or
    another program is built.

    Metrics are sampled every recording interval by the dopamine unit (which brings every
    synapse up to date first). The network runs one extra 1-ms step so that the last
    sample falls at ``duration_s``."""

    duration_s: float = 3600.0
    snapshot_every_s: float = 600.0
    target: str = ""

    name = "distal_reward"
    standalone = True

    def config(self) -> dict[str, Any]:
        # "thalamic_noise": which generator draws the thalamic input (runs stored with Brian2's rand() lack the field)
        return {"task": self.name, "duration_s": self.duration_s, "snapshot_every_s": self.snapshot_every_s, "target": self.target,
                "thalamic_noise": "counter_hash"}

    def check_model(self, spec: SpikingSpec) -> str | None:
        from bioplaus.spiking.network import TARGETS

        if spec.neuron != "izhikevich":
            return f"task 'distal_reward' needs neuron = \"izhikevich\", model {spec.name!r} has {spec.neuron!r}."
        if spec.dt_ms != 1.0:
            return f"task 'distal_reward' integrates in 1-ms steps as the author's code; model {spec.name!r} has dt_ms = {spec.dt_ms}."
        if self.target and self.target not in TARGETS:
            return f"task 'distal_reward': field 'target' is {self.target!r}; allowed values are {', '.join(map(repr, TARGETS))} or ''."
        return require_network(spec, NETWORK_KEYS)

    def _objects(self, spec: SpikingSpec, rule: DopamineSTDP, rng: np.random.Generator, sample_s: float) -> tuple[dict, dict]:
        """The network (:func:`build_network`) and the monitors of a run."""
        import brian2 as b2

        objs = build_network(spec, rule, rng, sample_every_s=sample_s)
        neurons, plastic, dopamine = objs["neurons"], objs["plastic"], objs["dopamine"]
        every = sample_s * b2.second
        monitors = {
            "dopamine": b2.StateMonitor(dopamine, ["w_sum", "n_rewards"], record=True, dt=every, when="end"),
            "chosen": b2.StateMonitor(plastic, "w", record=[0], dt=every, when="end"),
            "spikes": b2.StateMonitor(neurons, "n_spikes", record=True, dt=every, when="end"),
            "rewards": b2.SpikeMonitor(dopamine, variables=["due"], record=True),
        }
        if self.snapshot_every_s > 0:
            monitors["snapshots"] = b2.StateMonitor(plastic, "w", record=True, dt=self.snapshot_every_s * b2.second,
                                                    when="end")
        return objs, monitors

    def _standalone_run(self, protocol: Any, rule: DopamineSTDP, spec: SpikingSpec, chunks: int, sample_s: float,
                        brian_seed: int, rng: np.random.Generator, progress: Callable[[int], None] | None) -> tuple[dict, dict]:
        """Run on cpp_standalone, reusing the program compiled for an earlier seed of the same
        run configuration when this process has it (:mod:`bioplaus.spiking.standalone`): only
        the connectivity (rewritten static arrays) and the seed of Brian2's generators differ."""
        import copy

        import brian2 as b2

        from bioplaus.spiking import standalone

        targets_ex, targets_in, key = draw_layout(spec, copy.deepcopy(rng))  # the draws build_network makes

        def build() -> dict[str, Any]:
            objs, monitors = self._objects(spec, rule, rng, sample_s)
            net = b2.Network(*(o for o in objs.values() if hasattr(o, "contained_objects")), *monitors.values())
            run_chunks(net, "cpp_standalone", self.duration_s, spec.dt_ms / 1000.0, chunks, None)  # recorded, run below
            return {"objs": objs, "monitors": monitors}

        program = standalone.compiled(standalone.run_key(self, spec, rule, protocol), build)
        objs, monitors = program.objects["objs"], program.objects["monitors"]
        pre, post = 0, int(targets_ex[0, 0])
        program.set_connection(objs["plastic"], "targets", targets_ex.ravel())
        program.set_connection(objs["inhibitory"], "targets", targets_in.ravel())
        program.set_connection(objs["cue"], "sources", np.array([pre, post]))
        program.run(brian_seed, {objs["neurons"].noise_key: key})
        if progress is not None:
            progress(chunks)
        return {**objs, "chosen": (pre, post)}, monitors

    def simulate(self, protocol: Any, rule: SpikingRule, seed: int, progress: Callable[[int], None] | None):
        import brian2 as b2

        from bioplaus.spiking.network import seed_brian2, use_target
        from bioplaus.core import RunResult

        if not isinstance(rule, DopamineSTDP):
            raise BioplausError(f"task 'distal_reward' runs dopamine-modulated STDP (da_stdp), got {rule.name!r}.")
        spec: SpikingSpec = protocol.model
        chunks, chunk_s = chunk_schedule(protocol, self.duration_s)
        sample_s = chunk_s * protocol.record_every
        if self.snapshot_every_s > 0 and abs(self.snapshot_every_s / sample_s - round(self.snapshot_every_s / sample_s)) > 1e-9:
            raise BioplausError(f"protocol {protocol.name!r}: task 'distal_reward' field 'snapshot_every_s' ({self.snapshot_every_s:g} s) "
                                f"must be a multiple of the recording interval duration_s / steps * record_every = {sample_s:g} s.")
        target = self.target or spec.target
        t0 = time.perf_counter()
        brian_seed = seed_int(protocol.root_seed, seed, "spiking")
        rng = np.random.default_rng(seed_int(protocol.root_seed, seed, "init"))
        if target == "cpp_standalone":
            objs, monitors = self._standalone_run(protocol, rule, spec, chunks, sample_s, brian_seed, rng, progress)
        else:
            use_target(target)
            seed_brian2(brian_seed)
            objs, monitors = self._objects(spec, rule, rng, sample_s)
            net = b2.Network(*(o for o in objs.values() if hasattr(o, "contained_objects")), *monitors.values())
            run_chunks(net, target, self.duration_s, spec.dt_ms / 1000.0, chunks, progress)
        neurons, plastic, dopamine = objs["neurons"], objs["plastic"], objs["dopamine"]
        times = np.asarray(monitors["dopamine"].t / b2.second)
        w_sum = np.asarray(monitors["dopamine"].w_sum[0])
        n_rewards = np.asarray(monitors["dopamine"].n_rewards[0], dtype=np.float64)
        w0 = np.asarray(monitors["chosen"].w[0])
        counts = np.asarray(monitors["spikes"].n_spikes).sum(axis=0)
        due = np.asarray(monitors["rewards"].due)
        reward_t = np.repeat(np.asarray(monitors["rewards"].t / b2.second), due.astype(int))
        snapshots = np.asarray(monitors["snapshots"].w, dtype=np.float32).T if "snapshots" in monitors else np.zeros((0, len(plastic)))
        snapshot_t = np.asarray(monitors["snapshots"].t / b2.second) if "snapshots" in monitors else np.zeros(0)
        lost = int(dopamine.lost[0])
        chosen = objs["chosen"]
        n_syn, n_total = objs["n_excitatory_synapses"], len(neurons)
        rows: list[tuple] = []
        for s_idx, t_s in enumerate(times):
            k = s_idx * protocol.record_every
            rows += [(k, float(t_s), "reinforced_weight", "all", float(w0[s_idx])),
                     (k, float(t_s), "mean_weight", "all", float((w_sum[s_idx] - w0[s_idx]) / (n_syn - 1))),
                     (k, float(t_s), "reward", "all", float(n_rewards[s_idx] - (n_rewards[s_idx - 1] if s_idx else 0.0)))]
            if s_idx > 0:
                rows.append((k, float(t_s), "rate_hz", "all", float((counts[s_idx] - counts[s_idx - 1]) / (n_total * sample_s))))
        return RunResult(status="done", rows=rows, steps_done=chunks, duration_s=time.perf_counter() - t0, arrays={
            "weights": snapshots, "weights_time_s": snapshot_t, "reward_times_s": reward_t.astype(np.float64),
            "chosen_synapse": np.array(chosen), "rewards_lost": np.array([lost])})
