"""Bellec et al. 2020 (Nat. Commun. 11:3625): e-prop against BPTT on a recurrent spiking network, pattern generation.

Paper: G. Bellec, F. Scherr, A. Subramoney, E. Hajek, D. Salaj, R. Legenstein & W. Maass, "A solution
to the learning dilemma for recurrent networks of spiking neurons". Published claim (abstract):
e-prop "approaches the performance of backpropagation through time (BPTT)"; no number is cited
here. The task is the supervised pattern-generation task of the authors' e-prop tutorials: a
frozen Poisson input pattern (20 channels, 50 Hz) to a fixed target, a sum of sinusoids.

Here (a proxy: 250 ms instead of the tutorial's longer pattern, 100 LIF neurons, Adam lr 3e-3,
one pattern per run, float32): a recurrent network of the paper's neuron, LIF **without a synaptic
current** (``synapse = "delta"``: input and recurrent spikes jump the membrane; Brian2's
``dv/dt = -v/tau`` with ``on_pre: v += w``, tau_mem 20 ms; close to the authors' code's discrete step but
not identical: the reset is alpha times the threshold, see :mod:`bioplaus.snn.lif`), no self-connections, reset detached from the gradient
as in the authors' code, fast-sigmoid surrogate (not the paper's triangle), with a leaky read-out at
every step. Conditions: surrogate BPTT (the model's reference gradient, stored as ``surrogate_bptt``),
truncated surrogate BPTT (the neurons' state cut every 10 ms), e-prop with symmetric
feedback (B = W_out^T) and with fixed random feedback, the reward-modulated three-factor rule
(escape-noise spikes, temperature 0.1, one scalar: reward minus a running baseline; it estimates
the gradient of the stochastic network's expected reward) and the read-out-only control (the
spiking layer stays random). Measured: the loss on the pattern and the angle of each rule's update
to the surrogate-BPTT gradient per layer (input, recurrent). With recurrent weights e-prop drops
every path through other neurons, so its angle is not 0 (tests/test_snn.py checks both cases).

Measured with ``--quick`` (60 updates, seed 0; the full schedule was not run here), loss on the
pattern 18.2 at the start -> surrogate BPTT 3.27, truncated BPTT 3.63, symmetric e-prop 4.08,
random e-prop 11.9, three-factor 8.03, read-out only 4.77; final update angles (input /
recurrent): truncated BPTT 58 / 62 deg, symmetric e-prop 52 / 55 deg, random e-prop 97 / 101 deg,
three-factor 109 / 108 deg. Symmetric e-prop ends between BPTT and the read-out-only control (one seed,
60 updates: not yet "approaching BPTT"); random e-prop and the three-factor rule do worse than the
read-out-only control within 60 updates. With the current-based neuron used before (tau_syn 5 ms,
input_scale 3) the same quick run gave BPTT 3.24, symmetric e-prop 2.58, read-out only 4.25.

Full run (3 seeds x 1000 updates, 2026-12-02): final loss on the pattern symmetric e-prop 1.04 ± 0.36,
truncated BPTT 0.82 (0.63 / 0.66 / 1.17), surrogate BPTT 7.66 ± 5.86, read-out only 3.80 ± 2.11, random
e-prop 11.1 ± 5.66, three-factor 20.1 (15.8 / 21.9 / 22.6). Surrogate BPTT is unstable at Adam lr 3e-3
through 250 steps of a recurrent spiking net: its loss jumps (58.5 at update 400 in seed 0, 43.7 at 600 in
seed 1) and ends above e-prop's. So the "within 1.5 x BPTT" claim passes only because full BPTT does badly
here (ratio 0.135); measured against truncated BPTT, symmetric e-prop ends within 1.3 x. Not tuned away: the
step size is shared, and BPTT's instability at it is the result. The three-factor rule does not learn
the pattern within 1000 updates.

Checked claims (final test loss, per condition): symmetric e-prop within 1.5 x surrogate BPTT's loss and
more than 0.5 below the read-out-only control's (the pair is "approaches BPTT": the control alone would pass
the factor); random e-prop's loss above symmetric e-prop's.
"""

from bioplaus import Condition, Protocol, rules, tasks
from bioplaus.claims import Ordering, Ratio

BELLEC = dict(paper="Bellec et al. 2020", where="abstract; Figs. 2-3", proxy=True,
              published_on="pattern generation, recurrent LIF/ALIF networks")

protocol = Protocol(
    name="bellec2020_eprop",
    task=tasks.PatternGeneration(n_in=20, duration_ms=250.0, rate_hz=50.0, frequencies_hz=(4.0, 8.0, 12.0, 20.0)),
    model="snn_pattern",
    rules=[
        rules.Backprop(label="surrogate_bptt"),
        rules.SpikingTruncatedBPTT(k=10, label="truncated_bptt"),
        rules.SpikingEProp("symmetric", label="eprop_symmetric"),
        rules.SpikingEProp("random", label="eprop_random"),
        rules.SpikingThreeFactor(temperature=0.1, label="three_factor"),
        Condition(rules.SpikingReadoutOnly(), label="readout_only"),
    ],
    seeds=range(3),
    steps=1000,
    batch_size=1,
    optimizer=("adam", {"lr": 3e-3}),
    record_every=50,
    metrics=["loss", "test_loss", "update_angle"],
    summary=[("test_loss", "all"), ("update_angle", "input"), ("update_angle", "recurrent")],
    quick={"steps": 60, "record_every": 10, "seeds": [0]},
    target=[
        # "approaches BPTT": within a factor of BPTT's loss, and clearly below the read-out-only control (which alone
        # would pass the factor: 4.77 / 3.27 in the quick run), so that the claim's negation fails one of the two
        Ratio(condition="eprop_symmetric", reference="surrogate_bptt", metric="test_loss", at_most=1.5, **BELLEC,
              published="e-prop approaches the performance of BPTT (no number cited here)"),
        Ordering(metric="test_loss", lower="eprop_symmetric", higher="readout_only", margin=0.5, **BELLEC,
                 published="e-prop trains the recurrent network (the read-out-only control does not)"),
        # Figs. 2-3: random feedback learns, but worse than symmetric feedback
        Ordering(metric="test_loss", lower="eprop_symmetric", higher="eprop_random", margin=0.0, **BELLEC,
                 published="random e-prop below symmetric e-prop"),
    ],
)
