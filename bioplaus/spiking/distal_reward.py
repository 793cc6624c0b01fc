"""The distal reward problem (Izhikevich 2007, Cereb. Cortex 17:2443, Fig. 1): the task.

In the network of :mod:`bioplaus.spiking.izhikevich_network`, one excitatory synapse
(neuron 0 onto its first target) is chosen and set to 0. Whenever its postsynaptic neuron
fires within ``reward_window_ms`` after its presynaptic neuron, a reward is scheduled
``1 + U(0, 2)`` s later; the dopamine unit (:mod:`bioplaus.spiking.dopamine`) delivers it,
raising dopamine by ``reward_dopamine`` (dopamine decays with ``tau_d``). The reinforced
synapse grows to ``w_max`` while the others stay low.

The reward schedule (detection of the chosen synapse's pre->post pairings, the 1-3 s
delays: :func:`cue_pathway`) runs in generated code, so a whole run is one Brian2 ``run``
and every target, cpp_standalone included, can run it; metrics (the reinforced weight, the
others' mean, rewards, the firing rate) are sampled by monitors (:class:`DistalReward`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bioplaus.core import RunResult
from bioplaus.errors import BioplausError
from bioplaus.seeding import seed_int
from bioplaus.spiking.dopamine import N_SLOTS, NEVER_S
from bioplaus.spiking.izhikevich_network import NETWORK_KEYS as IZHIKEVICH_NETWORK_KEYS
from bioplaus.spiking.izhikevich_network import build_network, draw_layout
from bioplaus.spiking.network import TARGETS, seed_brian2, use_target
from bioplaus.spiking.plasticity import DopamineSTDP, SpikingRule
from bioplaus.spiking.spec import SpikingSpec, require_network
from bioplaus.spiking.standalone import compiled, run_key
from bioplaus.spiking.task import SpikingTask, chunk_schedule, run_chunks

NETWORK_KEYS = {**IZHIKEVICH_NETWORK_KEYS, "reward_window_ms": "post-after-pre window that earns a reward"}


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


def cue_pathway(neurons: Any, dopamine: Any, pre: int, post: int, window_ms: float, dt: Any):
    """Synapses named ``cue`` from neurons ``pre`` (``role`` 0) and ``post`` (``role`` 1) onto the
    dopamine unit of :func:`bioplaus.spiking.dopamine.dopamine_system`: every post spike that
    follows the latest earlier pre spike by ``0 < lag <= window_ms`` writes ``t + 1 s + U(0, 2 s)``
    into the unit's next reward slot (round robin; the unit's ``lost`` counts pending rewards
    overwritten)."""
    import brian2 as b2

    cue = b2.Synapses(neurons, dopamine, "role : integer (constant)", on_pre=_cue_code(N_SLOTS), dt=dt, name="cue",
                      namespace={"window": window_ms * b2.ms, "never": NEVER_S * b2.second})
    cue.connect(i=[pre, post], j=[0, 0])
    cue.role = [0, 1]
    return cue


def distal_reward_network(spec: SpikingSpec, rule: DopamineSTDP, rng: np.random.Generator, sample_every_s: float = 0.0,
                          preset_rewards_s: Any = ()) -> dict[str, Any]:
    """The network of :func:`bioplaus.spiking.izhikevich_network.build_network` (same arguments)
    with the task's reward schedule: ``cue`` (:func:`cue_pathway`) from the chosen synapse's
    pre and post neurons onto the dopamine unit."""
    objs = build_network(spec, rule, rng, sample_every_s, preset_rewards_s)
    pre, post = objs["chosen"]
    cue = cue_pathway(objs["neurons"], objs["dopamine"], pre, post, float(spec.network["reward_window_ms"]), objs["neurons"].clock.dt)
    return {**objs, "cue": cue}


def reward_times(pre_times: np.ndarray, post_times: np.ndarray, window_s: float, delays_s: np.ndarray) -> np.ndarray:
    """Reward times: for every post spike that follows the latest pre spike by at most
    ``window_s`` (``0 < t_post - t_pre <= window``), one reward ``delays_s[k]`` later.
    A numpy reference for the in-network schedule of :func:`cue_pathway` (tests)."""
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
        if spec.neuron != "izhikevich":
            return f"task 'distal_reward' needs neuron = \"izhikevich\", model {spec.name!r} has {spec.neuron!r}."
        if spec.dt_ms != 1.0:
            return f"task 'distal_reward' integrates in 1-ms steps as the author's code; model {spec.name!r} has dt_ms = {spec.dt_ms}."
        if self.target and self.target not in TARGETS:
            return f"task 'distal_reward': field 'target' is {self.target!r}; allowed values are {', '.join(map(repr, TARGETS))} or ''."
        return require_network(spec, NETWORK_KEYS)

    def _objects(self, spec: SpikingSpec, rule: DopamineSTDP, rng: np.random.Generator, sample_s: float) -> tuple[dict, dict]:
        """The network (:func:`distal_reward_network`) and the monitors of a run (named for what
        they record; in the ``end`` slot their names sort in the order they were made)."""
        import brian2 as b2

        objs = distal_reward_network(spec, rule, rng, sample_every_s=sample_s)
        neurons, plastic, dopamine = objs["neurons"], objs["plastic"], objs["dopamine"]
        every = sample_s * b2.second
        monitors = {
            "dopamine": b2.StateMonitor(dopamine, ["w_sum", "n_rewards"], record=True, dt=every, when="end", name="dopamine_monitor"),
            "chosen": b2.StateMonitor(plastic, "w", record=[0], dt=every, when="end", name="reinforced_weight_monitor"),
            "spikes": b2.StateMonitor(neurons, "n_spikes", record=True, dt=every, when="end", name="spike_count_monitor"),
            "rewards": b2.SpikeMonitor(dopamine, variables=["due"], record=True, name="reward_monitor"),
        }
        if self.snapshot_every_s > 0:
            monitors["snapshots"] = b2.StateMonitor(plastic, "w", record=True, dt=self.snapshot_every_s * b2.second,
                                                    when="end", name="weight_snapshots")
        return objs, monitors

    @staticmethod
    def _network(objs: dict[str, Any], monitors: dict[str, Any]) -> Any:
        """The explicit ``brian2.Network`` (named ``distal_reward``) of the Brian2 objects among ``objs`` and ``monitors``."""
        import brian2 as b2

        return b2.Network(*(o for o in objs.values() if hasattr(o, "contained_objects")), *monitors.values(), name="distal_reward")

    def _standalone_run(self, protocol: Any, rule: DopamineSTDP, spec: SpikingSpec, chunks: int, sample_s: float,
                        brian_seed: int, rng: np.random.Generator, progress: Callable[[int], None] | None) -> tuple[dict, dict]:
        """Run on cpp_standalone, reusing the program compiled for an earlier seed of the same
        run configuration when this process has it (:mod:`bioplaus.spiking.standalone`): only
        the connectivity (rewritten static arrays) and the seed of Brian2's generators differ."""
        targets_ex, targets_in, key = draw_layout(spec, copy.deepcopy(rng))  # the draws build_network makes

        def build() -> dict[str, Any]:
            objs, monitors = self._objects(spec, rule, rng, sample_s)
            # recorded only: the compiled program runs it below
            run_chunks(self._network(objs, monitors), "cpp_standalone", self.duration_s, spec.dt_ms / 1000.0, chunks, None)
            return {"objs": objs, "monitors": monitors}

        program = compiled(run_key(self, spec, rule, protocol), build)
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
            run_chunks(self._network(objs, monitors), target, self.duration_s, spec.dt_ms / 1000.0, chunks, progress)
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
