"""Izhikevich 2007, Fig. 1: dopamine-modulated STDP solves the distal reward problem.

Paper: E. M. Izhikevich, "Solving the distal reward problem through linkage of STDP and
dopamine signaling", Cereb. Cortex 17:2443-2452 (2007); the author's MATLAB code is
ModelDB 84167 (daspnet.m), whose parameters we use (models/izhikevich2007_network.toml):
800 excitatory (regular spiking: a=0.02, d=8) and 200 inhibitory (fast spiking: a=0.1,
d=2) Izhikevich neurons, 100 synapses each (excitatory onto any neuron, inhibitory onto
excitatory ones), excitatory weights start at 1 and stay in [0, 4], inhibitory -1;
random thalamic input 13*(rand-0.5) to every neuron each ms; STDP steps +0.1 / -0.15
with 20-ms traces feeding an eligibility trace that decays with tau_c ~ 1 s (x0.99 per
10 ms); dopamine decays with tau_d ~ 0.2 s (x0.995 per ms); every 10 ms the weights move
by (0.002 + DA) * eligibility. One synapse is chosen and set to 0; each time its
postsynaptic neuron fires within 20 ms after its presynaptic neuron, DA += 0.5 is
delivered 1-3 s later. One hour of biological time.

Published result (Fig. 1): the chosen synapse grows to the maximum (4) within about an
hour while the others stay low (the paper's histogram shows most weights near 0). Not a
proxy: the paper's network and schedule. Measured here: see `bioplaus results`. Claims
checked: at full length the chosen synapse reaches the bound (>= 3.9 at some recorded time)
in every seed and the seeds' mean ends above 3.5; in a --quick run it rises by more than
0.5; in both the other synapses' mean falls from 1 by more than 0.05. The paper's text
gives no number for the others' distribution (its histogram only; the search corpus does
not hold the paper), so "stays low" is checked as "ends below its start of 1 by a margin":
the full run's seeds end at 0.88, 0.96, 0.68, with the mode of their histogram at 0.
Plasticity: exact event-driven DA-STDP (eligibility and weight advanced in closed form
between spikes and dopamine events; bioplaus/spiking/plasticity.py), the continuous-time
limit of the author's 10-ms update; the reward schedule runs inside the network, so the
whole hour is one cpp_standalone program, compiled once and rerun for every seed with that
seed's connectivity and random numbers (bioplaus/spiking/standalone.py).
Measured (full run, 3 seeds, 2026-11-26, after the per-step dopamine integral and the
counter-based thalamic noise of stop 12: 2 min 21 s of wall time on the 2-core machine,
one compilation and three one-hour runs of 36-57 s each): the chosen synapse ends at
3.78, 3.64 and 4.00 (3.81 ± 0.15; bound 4; first above 3.9 at 1980, 1080 and 2240 s,
dipping below it now and then), consistent with the paper; the other synapses' mean went
1.0 -> ~0.70 (1000 s) -> 0.84 ± 0.11 (3600 s) (seeds: 0.88, 0.96, 0.68) with 197, 245 and
106 rewards. Their distribution at 3600 s has its mode at 0 (46-54 % below 0.4, medians
0.33-0.48), as in the paper's histogram, but 1.4-2.7 % of them also sit at the upper
bound, which keeps the mean near its start. (Stop 11, with Brian2's rand() for the
thalamic input, other random numbers and otherwise the same dynamics: 4.00 ± 0.004, first
above 3.9 at 890-1550 s, others' mean 0.87 ± 0.10, 3.7-6.3 % at the bound; 8 min 13 s.)
--quick runs 600 s on one seed with cpp_standalone: 35 s of wall time (compilation
included; the issue exempts this protocol from the one-minute budget, but it now fits);
the chosen synapse grows 0 -> 0.89 after 16 rewards while the others' mean falls
1 -> 0.76: 600 s is too short for the full separation, which took 1000-2200 s in the
full run.
"""

from bioplaus import Protocol
from bioplaus.claims import Bound, Trend
from bioplaus.spiking import DopamineSTDP
from bioplaus.spiking.distal_reward import DistalReward

protocol = Protocol(
    name="izhikevich2007_distal_reward",
    task=DistalReward(duration_s=3600.0, snapshot_every_s=600.0, target="cpp_standalone"),
    model="izhikevich2007_network",
    rules=[DopamineSTDP(a_plus=0.1, a_minus=0.15, tau_c_ms=1000.0, baseline=0.002, w_max=4.0, update="event", traces="neuron")],
    seeds=range(3),
    steps=360,         # 10-s chunks (progress of the runtime targets)
    record_every=1,    # metrics every 10 s of biological time
    metrics=["reinforced_weight", "mean_weight", "rate_hz", "reward"],
    summary=[("reinforced_weight", "all"), ("mean_weight", "all"), ("rate_hz", "all")],
    quick=dict(task=DistalReward(duration_s=600.0, snapshot_every_s=200.0, target="cpp_standalone"), steps=60, seeds=range(1)),
    target=[
        Bound(condition="da_stdp", metric="reinforced_weight", at="max", op=">=", bound=3.9, per_seed=True, when="full",
              paper="Izhikevich 2007", where="Fig. 1", proxy=False, published="the chosen synapse grows to the maximum (4) within about an hour",
              note="criterion: at the bound (within 2.5 % of 4) at some time within the hour, in every seed"),
        Bound(condition="da_stdp", metric="reinforced_weight", op=">", bound=3.5, when="full", paper="Izhikevich 2007",
              where="Fig. 1", proxy=False, published="the chosen synapse grows to the maximum (4) and stays there",
              note="criterion: the seeds' mean above 3.5 at the end of the hour (it dips below the bound now and then)"),
        Trend(condition="da_stdp", metric="reinforced_weight", direction="rises", by=0.5, when="quick", paper="Izhikevich 2007",
              where="Fig. 1", proxy=False, published="the chosen synapse grows",
              note="quick-run claim: 600 s is too short to reach the bound (full length: > 3.5); it starts at 0"),
        Trend(condition="da_stdp", metric="mean_weight", direction="falls", by=0.05, paper="Izhikevich 2007", where="Fig. 1",
              proxy=False, published="the other synapses stay low (histogram: most near 0)",
              note="criterion: the other synapses' mean falls from its start (1) by more than 0.05, i.e. ends below 0.95; "
                   "the figure's histogram has no number in the text, so the threshold is the start (all excitatory "
                   "weights begin at 1 in the author's daspnet.m) less a margin, not a value read from the figure"),
    ],
)
