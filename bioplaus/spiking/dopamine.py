"""The dopamine unit: a one-neuron Brian2 group that holds the dopamine of a network with
dopamine-modulated STDP, delivers rewards at their due times and brings the plastic
synapses up to date at every dopamine event.

The unit keeps up to :data:`N_SLOTS` pending reward times ``t_due0...`` (written by a
task's pathway, e.g. :func:`bioplaus.spiking.distal_reward.cue_pathway`, or preset before
the run) and fires at every dopamine event: on the step nearest to a pending reward time,
every ``sample_every_s`` (a sample of the weights: every synapse brought up to date and the
weights summed into ``w_sum``), and at the latest ``tau_c`` after its previous event (to
renormalise the eligibility envelope of event-driven DA-STDP). At an event its reset runs
the rule's closed form (:meth:`bioplaus.spiking.plasticity.DopamineSTDP.dopamine_event`),
with ``reward_dopamine`` released per reward due (``n_rewards`` counts them); then two
pathways, after the resets (so that the plastic synapses' own events of the step come
first and monitors at ``when="end"`` see the sums and weights of the event):

- ``catch_up`` onto every plastic synapse: :meth:`~bioplaus.spiking.plasticity.DopamineSTDP.renormalise`
  (``update="event"``), then the weight is added to ``w_sum``;
- ``dopamine_to_neurons`` (order 1) onto the postsynaptic neurons:
  :meth:`~bioplaus.spiking.plasticity.DopamineSTDP.restart_neurons`.

All of it is generated code, so cpp_standalone needs no Python between steps. The DA-STDP
equations themselves all live in :class:`bioplaus.spiking.plasticity.DopamineSTDP`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bioplaus.errors import BioplausError
from bioplaus.spiking.neurons import namespace
from bioplaus.spiking.plasticity import DopamineSTDP

N_SLOTS = 16  # pending rewards the dopamine unit can hold (each waits 1-3 s); more are counted as lost
NEVER_S = 1e9  # "no reward pending"


def release(suffix: str = "") -> str:
    """What the unit releases at an event: ``reward_dopamine`` per reward due (``suffix``: that of
    the unit's variables in a pathway, ``"_pre"``)."""
    return f"reward_dopamine * n_due{suffix}"


def unit_equations(n_slots: int) -> tuple[str, str, str]:
    """Equations, threshold and reset of the dopamine unit with ``n_slots`` reward slots (see the module docstring)."""
    slots = range(n_slots)
    equations = "\n".join(["t_next : second", "w_sum : 1", "t_first : second", "t_cue : second", "t_cue_prev : second",
                           "slot : integer", "lost : integer", "n_rewards : integer", "n_due : 1", "t_epoch : second"]
                          + [f"t_due{k} : second" for k in slots]
                          + ["due = " + " + ".join(f"int(t + 0.5 * dt >= t_due{k})" for k in slots) + " : 1"])
    equations = DopamineSTDP.UNIT_MODEL + equations
    threshold = "t + 0.5 * dt >= t_first or t + 0.5 * dt >= t_next or t + 0.5 * dt >= t_epoch"
    reset = ["n_due = due"]
    reset += [f"t_due{k} = int(t + 0.5 * dt < t_due{k}) * t_due{k} + int(t + 0.5 * dt >= t_due{k}) * never" for k in slots]
    reset += ["t_first = never"] + [f"t_first = int(t_due{k} < t_first) * t_due{k} + int(t_due{k} >= t_first) * t_first" for k in slots]
    reset += [DopamineSTDP.dopamine_event(release()), "n_rewards = n_rewards + int(n_due)",
              "t_next = t_next + int(t + 0.5 * dt >= t_next) * sample", "t_epoch = t + epoch", "w_sum = 0"]
    return equations, threshold, "\n".join(reset)


def dopamine_system(plastic: Any, neurons: Any, rule: DopamineSTDP, reward_dopamine: float, dt: Any,
                    sample_every_s: float = 0.0, preset_rewards_s: Any = ()) -> dict[str, Any]:
    """The dopamine unit and its pathways for the DA-STDP synapses ``plastic`` (made by
    :func:`bioplaus.spiking.plasticity.synapses` from ``rule``) onto ``neurons``, keyed
    ``dopamine``, ``catch_up`` and ``dopamine_to_neurons`` (Brian2 objects of these names).

    ``neurons`` need the variables ``DopamineSTDP.NEURON_MODEL``, advanced every step by
    ``DopamineSTDP.neuron_step()`` with the constants ``rule.neuron_namespace(tau_d_ms)`` in
    their namespace; the unit takes those constants (dopamine time constant included) from the
    neurons' namespace, so that its closed form integrates what the neurons integrate. Their
    ``g_c`` is set to 1 here. ``reward_dopamine``: dopamine per reward; ``sample_every_s``: the
    interval of weight samples (0: none); ``preset_rewards_s``: reward times written into the
    slots before the run (at most :data:`N_SLOTS`)."""
    import brian2 as b2

    given = getattr(neurons, "namespace", None) or {}
    missing = [k for k in DopamineSTDP.CONSTANTS if k not in given]
    if missing:
        raise ValueError(f"dopamine_system: the namespace of {neurons.name!r} lacks {missing}; "
                         f"build the neurons with namespace=rule.neuron_namespace(tau_d_ms)")
    constants = {k: given[k] for k in DopamineSTDP.CONSTANTS}
    never = NEVER_S * b2.second
    sample = (sample_every_s if sample_every_s > 0 else NEVER_S) * b2.second
    equations, threshold, reset = unit_equations(N_SLOTS)
    epoch = rule.params["tau_c_ms"] * b2.ms  # renormalise the eligibility envelope at least this often
    dopamine = b2.NeuronGroup(1, equations, threshold=threshold, reset=reset, dt=dt, name="dopamine", namespace={
        **constants, "reward_dopamine": reward_dopamine, "sample": sample, "never": never, "epoch": epoch})
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
    to_neurons = b2.Synapses(dopamine, neurons, on_pre=DopamineSTDP.restart_neurons(release("_pre")), dt=dt,
                             name="dopamine_to_neurons", order=1, namespace={"reward_dopamine": reward_dopamine})
    to_neurons.connect()
    to_neurons.pre.when = "after_resets"
    return {"dopamine": dopamine, "catch_up": catch_up, "dopamine_to_neurons": to_neurons}
