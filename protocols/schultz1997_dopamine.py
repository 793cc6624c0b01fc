"""Schultz, Dayan & Montague (1997): the TD error as the phasic dopamine response moves from the reward to the cue.

Paper: W. Schultz, P. Dayan & P. R. Montague, "A neural substrate of prediction and reward", Science 275:1593-1599
(1997), Fig. 1 (dopamine neurons: a burst at an unpredicted reward; after learning a burst at the conditioned
stimulus and none at the reward; a depression at the expected time when the predicted reward is omitted) and
the TD model it explains them with (Montague, Dayan & Sejnowski 1996).

Methods: conditioning trials of 20 time steps, cue at step 5 (its onset unpredictable: before it the features
are zero, so the value there is 0), reward 1 at step 15, gamma = 1; a linear value function on a complete serial
compound (one feature per step since the cue); TD(0) with alpha = 0.2, 200 trials, one trial per update.
Measured: the TD error each state expects with the current values (``td_error``, layer = time step) and on a
probe trial with the reward omitted (``td_error_omitted``), every 10 trials. Baselines: learning off (the error
stays at the reward), and TD(lambda = 0.9), whose traces carry credit to the cue without the step-by-step
backward march of TD(0).

Published claim (qualitative; PUBLISHED.md holds no numbers for it): with learning, the response moves from the
reward to the cue; an omitted reward gives a dip at the expected time. Not a proxy for the model (the paper's
TD model and representation); the paper's number of trials and time base are not reproduced.
"""

from bioplaus import Protocol, rules, tasks
from bioplaus.claims import Ordering
from bioplaus.protocol import Condition

protocol = Protocol(
    name="schultz1997_dopamine",
    task=tasks.Episodic("conditioning", {"n_steps": 20, "cue_step": 5, "reward_step": 15}),
    model="conditioning_agent",
    rules=[Condition(rules.TDLambda(0.0, alpha=0.2), label="TD(0)"),
           Condition(rules.TDLambda(0.9, alpha=0.2), label="TD(λ=0.9)"),
           Condition(rules.TDLambda(0.0, alpha=0.0), label="learning off")],
    seeds=[0],
    steps=200,
    record_every=10,
    optimizer=("sgd", {"lr": 1.0}),  # the rule steps with its own alpha
    metrics=["td_error", "td_error_omitted", "value_error"],
    summary=[("td_error", "s004"), ("td_error", "s015"), ("td_error_omitted", "s015")],
    target=[
            # the response leaves the time of the reward ...
            Ordering(metric="td_error", layer="s015", lower="TD(0)", higher="learning off", margin=0.3,
                     paper="Schultz, Dayan & Montague 1997", where="Fig. 1", proxy=False,
                     published="after learning, no response at the (predicted) reward"),
            # controls: without learning there is no cue response and no dip on omission
            Ordering(metric="td_error", layer="s004", lower="learning off", higher="TD(0)", margin=0.3,
                     paper="Schultz, Dayan & Montague 1997", where="Fig. 1", proxy=False,
                     published="after learning, the response is at the cue"),
            Ordering(metric="td_error_omitted", layer="s015", lower="TD(0)", higher="learning off", margin=0.3,
                     paper="Schultz, Dayan & Montague 1997", where="Fig. 1", proxy=False,
                     published="after learning, a dip at the expected time when the reward is omitted")],
)
