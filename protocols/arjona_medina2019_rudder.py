"""Arjona-Medina et al. (2019), RUDDER: episodes to learn a delayed-reward choice against the delay, for TD, Monte
Carlo and RUDDER.

Paper: J. A. Arjona-Medina, M. Gillhofer, M. Widrich, T. Unterthiner, J. Brandstetter & S. Hochreiter, "RUDDER:
Return Decomposition for Delayed Rewards", NeurIPS 2019. Claim (Sec. 5, artificial tasks): RUDDER's learning time
grows far more slowly with the reward's delay than TD's and Monte Carlo's. The numbers in PUBLISHED.md are for the
authors' pocket-watch demonstration (50-step episodes; episodes to solve: RUDDER 1,900-3,800, TD (Q-learning)
71,800-71,900, MC 27,700 to > 240,000); they are not comparable with this task.

Methods (a proxy): ``delayed_choice`` with delay d in {2, 4, 8, 16, 32}: a choice at the first step, the reward 1 for
action 1 only at the episode's end, and zero-mean rewards +-0.5 at every step of the delay (the return's variance
grows like d / 4). 32 independent tabular learners per condition, one episode each per update, 300 episodes, SGD
lr 0.5. TD: off-line one-step actor-critic with a TD(0) critic; MC: REINFORCE without baseline; RUDDER: an LSTM
(16 units) return predictor whose redistributed rewards the same one-step actor-critic learns from. Measured:
``expected_return`` (exact, from the model: the probability of choosing action 1), ``credit_error`` (RUDDER).
The figure reads the episodes to reach 0.9. Baseline: the same actor-critic without redistribution (TD) is the
comparison that shows redistribution is not free; MC shows that the delay alone is not what hurts TD.
"""

from bioplaus import Protocol, PublishedTarget, rules, tasks
from bioplaus.protocol import Condition

DELAYS = (2, 4, 8, 16, 32)


def td():
    return rules.ActorCritic(lam_theta=0.0, lam_w=0.0, online=False)


METHODS = {"TD": td, "MC": lambda: rules.EpisodicReinforce(), "RUDDER": lambda: rules.Rudder(td(), predictor_lr=0.03)}


def conditions(delays):
    return [Condition(make(), model={"n_features": 1 + 4 * d, "n_states": 1 + 4 * d},
                      task={"parameters": {"delay": d, "noise": 0.5}}, label=f"{name} delay={d}")
            for name, make in METHODS.items() for d in delays]


protocol = Protocol(
    name="arjona_medina2019_rudder",
    task=tasks.Episodic("delayed_choice", {"delay": 8, "noise": 0.5}),
    model="delayed_choice_agent",
    rules=conditions(DELAYS),
    seeds=[0],
    steps=300,
    record_every=10,
    optimizer=("sgd", {"lr": 0.5}),
    metrics=["expected_return", "credit_error"],
    summary=[("expected_return", "all")],
    quick=dict(rules=conditions((2, 8, 16))),
    target=PublishedTarget(paper="Arjona-Medina et al. 2019", where="Sec. 5; README of the demonstration code",
                           metric="expected_return", proxy=True,
                           value="RUDDER's episodes to learn grow far more slowly with the delay than TD's and MC's",
                           published_on="pocket-watch task: RUDDER 1,900-3,800; TD 71,800-71,900; MC 27,700 to > 240,000 episodes"),
)
