"""Arjona-Medina et al. (2019), RUDDER: episodes to learn a delayed-reward choice against the delay, for TD
(Q-learning), Monte Carlo and RUDDER (Q-learning on the redistributed reward).

Paper: J. A. Arjona-Medina, M. Gillhofer, M. Widrich, T. Unterthiner, J. Brandstetter & S. Hochreiter, "RUDDER:
Return Decomposition for Delayed Rewards", NeurIPS 2019 (arXiv 1806.07857). Claim (the arXiv abstract, as read on
deepai.org; the experiments of Sec. 5 report learning time in episodes against the reward's delay, but their text
and numbers were not available to read here): "On artificial tasks with different lengths of reward delays, we show
that RUDDER is exponentially faster than TD, MC, and MC Tree Search (MCTS)". The paper's TD is Q-learning, its MC Monte
Carlo Q-estimation, both tabular with an epsilon-greedy actor in the authors' demonstration code, whose README gives
the only numbers we have (PUBLISHED.md; pocket-watch task, 50-step episodes, seeds 1-3; episodes to solve: RUDDER
1,900-3,800, TD (Q-learning) 71,800-71,900, MC 27,700 to > 240,000). They are not comparable with this task.

Methods (a proxy; the paper's grid-world and charge-discharge tasks are not rebuilt): ``delayed_choice``, a choice at
the first step, reward 1 for action 1 only at the episode's end after ``d`` steps, and zero-mean rewards +-0.5 at every
step of the delay (the return's variance grows like d / 4). 32 independent tabular learners per condition, epsilon-
greedy (0.1) on their action values, one episode each per update, step size 0.1 (the demonstration's policy lr). TD:
one-step Q-learning; MC: constant-alpha every-visit Monte Carlo control; RUDDER: an LSTM (16 units, Adam 0.03) return
predictor whose redistributed rewards the same Q-learning learns from; control: learning off (alpha = 0), whose
return stays at chance (0.5). Measured: ``expected_return`` (exact, from the model: the epsilon-greedy behaviour's
return, mean over learners); "solved" is >= 0.9, i.e. at least 31 of the 32 learners greedy on action 1. Claims read
the return at a fixed episode (a condition below 0.9 there has not solved within that many episodes); the figure reads
the first recorded episode at 0.9.

Quick run (delays 2, 8; 300 episodes, recorded every 10; 11 s for its 7 runs at load average 10): first episode at
0.9: TD 120 / not reached (0.781 at 300), MC 20 / 20, RUDDER 60 / 100; learning off 0.5. Exploration with the same
settings (other random streams, checked every episode, RUDDER and TD at delay 32 every 10): TD 108 at delay 2, 530
at 8, not at 32 (0.416 after 300); MC 19 / 46 / 97 at 8 / 16 / 32; RUDDER 39 / 20 / 25 / 120 at 2 / 8 / 16 / 32.
**Disagreement with the paper**: here MC is not slower than RUDDER at any delay up to 32 (97 against 120 episodes at
32): the delay's noise (s.d. 0.5 sqrt(d)) stays small beside the reward of 1, so Monte Carlo's variance costs
little; only TD's learning time grows steeply with the delay (its bias is corrected one step back per visit), as the
paper says. The full run (delays 2-32, 3000 episodes) checks that RUDDER solves delay 32 within 300 episodes while
TD does not, and that TD solves delay 8 by 3000 (it is slower, not broken).
Cost of the full run: about 7 CPU-minutes (measured process CPU per episode of 32 learners at delay 32, one thread:
TD 7 ms, MC 4 ms, RUDDER 50 ms, on a machine at load average 17.6; the five delays cost about twice delay 32 alone;
3000 episodes per condition).
"""

from bioplaus import Protocol, rules, tasks
from bioplaus.claims import Bound, Ordering
from bioplaus.protocol import Condition

DELAYS, QUICK_DELAYS = (2, 4, 8, 16, 32), (2, 8)
PAPER = dict(paper="Arjona-Medina et al. 2019", where="abstract; Sec. 5, artificial tasks", proxy=True,
             published="on artificial tasks with different lengths of reward delays, RUDDER is exponentially faster than TD, MC, and MCTS",
             published_on="artificial delayed-reward tasks; demo (pocket watch): RUDDER 1,900-3,800, TD 71,800-71,900 episodes")
METHODS = {"TD": lambda: rules.QLearning(), "MC": lambda: rules.MonteCarloControl(),
           "RUDDER": lambda: rules.Rudder(rules.QLearning(), predictor_lr=0.03)}


def condition(name, make, d):
    return Condition(make(), model={"n_features": 1 + 4 * d, "n_states": 1 + 4 * d},
                     task={"parameters": {"delay": d, "noise": 0.5}}, label=f"{name} delay={d}")


def conditions(delays):
    return [condition(name, make, d) for name, make in METHODS.items() for d in delays] + \
        [condition("off", lambda: rules.QLearning(alpha=0.0), max(delays))]


def solved(label, at, when, solved=True):
    return Bound(condition=label, metric="expected_return", op=">=" if solved else "<", bound=0.9, at=at, when=when, **PAPER)


protocol = Protocol(
    name="arjona_medina2019_rudder",
    task=tasks.Episodic("delayed_choice", {"delay": 8, "noise": 0.5}),
    model="delayed_choice_q_agent",
    rules=conditions(DELAYS),
    seeds=[0],
    steps=3000,
    record_every=10,
    optimizer=("sgd", {"lr": 0.1}),
    metrics=["expected_return", "credit_error"],
    summary=[("expected_return", "all")],
    quick=dict(rules=conditions(QUICK_DELAYS), steps=300),
    target=[solved("TD delay=2", 300, "quick"), solved("TD delay=8", 300, "quick", solved=False),
            solved("RUDDER delay=8", 300, "quick"), solved("MC delay=8", 300, "quick"),
            solved("RUDDER delay=32", 300, "full"), solved("TD delay=32", 300, "full", solved=False),
            solved("TD delay=8", 3000, "full"),
            *[Ordering(metric="expected_return", lower=f"off delay={d}", higher=f"RUDDER delay={d}", margin=0.3, when=w, **PAPER)
              for d, w in ((8, "quick"), (32, "full"))]],
)
