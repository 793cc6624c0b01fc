"""Q-learning, Watkins's Q(lambda) and constant-alpha Monte Carlo control on an epsilon-greedy agent, checked against
mathematics: Q* by value iteration against exact enumeration of policies, one update by hand, convergence to Q*."""

import itertools

import pytest
import torch

from bioplaus.errors import BioplausError
from bioplaus.rl.agent import AgentSpec, TabularAgent, agent_spec_from_dict
from bioplaus.rl.environments import delayed_choice, small_mdp
from bioplaus.rl.episodes import Episodes, rollout
from bioplaus.rl.mdp import TabularMDP, action_values, epsilon_greedy_policy, optimal_action_values
from bioplaus.rules.monte_carlo_control import monte_carlo_errors
from bioplaus.rules.q_learning import QLearning, watkins_q_lambda
from bioplaus.rules.rudder import Rudder
from bioplaus.tasks.episodic import episode_batch

F64 = torch.float64


def deterministic_mdp(seed: int = 3, n_states: int = 4, n_actions: int = 2, gamma: float = 0.9) -> TabularMDP:
    """Deterministic successors (seed 3: the terminal state is never reached, so episodes are cut and bootstrap; a
    discounted task) and fixed random rewards."""
    g = torch.Generator().manual_seed(seed)
    nxt = torch.randint(0, n_states + 1, (n_states, n_actions), generator=g)
    p = torch.nn.functional.one_hot(nxt, n_states + 1).to(F64)
    r = torch.randn(n_states, n_actions, n_states + 1, generator=g, dtype=F64)
    initial = torch.full((n_states,), 1.0 / n_states, dtype=F64)
    return TabularMDP("deterministic", p, r, initial, torch.eye(n_states, dtype=F64), gamma=gamma)


def test_value_iteration_equals_the_best_deterministic_policy_by_enumeration():
    """Q*(s, a) = max over the A^S deterministic policies of Q_pi(s, a) (a finite MDP has an optimal deterministic
    policy that is optimal in every state), on a random stochastic MDP."""
    mdp = small_mdp(seed=4, n_states=4, n_actions=3, gamma=0.8)
    policies = torch.stack([torch.nn.functional.one_hot(torch.tensor(c), 3).to(F64)
                            for c in itertools.product(range(3), repeat=4)])  # (81, S, A)
    best = action_values(mdp, policies).max(0).values
    torch.testing.assert_close(optimal_action_values(mdp), best, atol=1e-10, rtol=0)


def test_epsilon_greedy_policy_splits_ties_and_explores():
    q = torch.tensor([[1.0, 3.0, 3.0], [0.0, 0.0, 0.0], [2.0, -1.0, 0.5]], dtype=F64)
    pi = epsilon_greedy_policy(q, 0.3)
    expected = torch.tensor([[0.1, 0.45, 0.45], [1 / 3, 1 / 3, 1 / 3], [0.8, 0.1, 0.1]], dtype=F64)
    torch.testing.assert_close(pi, expected)


def one_episode(states, actions, rewards, next_states):
    t = torch.tensor
    return Episodes(t([states]), t([actions]), t([rewards], dtype=F64), t([next_states]), torch.ones(1, len(states), dtype=F64),
                    t([[float(s == 4) for s in next_states]], dtype=F64))


def test_one_q_learning_episode_equals_the_hand_computed_updates():
    """Two steps s0 -a1-> s2 -a0-> terminal, alpha 0.5, gamma 0.9, online: the second update sees nothing of the first
    (different pairs), and the first bootstraps from max_a Q(s2, a) before its own update."""
    mdp = deterministic_mdp()
    q = torch.arange(8, dtype=F64).view(1, 4, 2) / 10  # Q(s, a) = (2 s + a) / 10
    batch = episode_batch(mdp, one_episode([0, 2], [1, 0], [1.0, -2.0], [2, 4]))
    after, delta = watkins_q_lambda(q, batch, alpha=0.5, lam=0.0)
    d0 = 1.0 + 0.9 * 0.5 - 0.1  # r + gamma max(Q(2, .)) - Q(0, 1)
    d1 = -2.0 + 0.0 - 0.4  # terminal: no bootstrap
    torch.testing.assert_close(delta, torch.tensor([[d0, d1]], dtype=F64))
    expected = q.clone()
    expected[0, 0, 1] += 0.5 * d0
    expected[0, 2, 0] += 0.5 * d1
    torch.testing.assert_close(after, expected)


def test_watkins_trace_carries_delta_back_along_greedy_actions_and_is_cut_by_exploration():
    """lambda 0.5, gamma 0.9: a greedy second action lets its delta reach (s0, a0) with weight gamma lambda; an
    exploratory one cuts the trace (s0, a0 gets only its own delta)."""
    mdp = deterministic_mdp()
    q = torch.zeros(1, 4, 2, dtype=F64)
    q[0, 2, 1] = 1.0  # in s2, action 1 is greedy
    for a1, carried in ((1, True), (0, False)):
        batch = episode_batch(mdp, one_episode([0, 2], [0, a1], [0.0, 1.0], [2, 4]))
        after, delta = watkins_q_lambda(q, batch, alpha=0.1, lam=0.5)
        d0 = 0.0 + 0.9 * 1.0 - 0.0
        d1 = 1.0 - q[0, 2, a1].item()
        assert delta[0].tolist() == pytest.approx([d0, d1])
        want = 0.1 * d0 + (0.1 * 0.9 * 0.5 * d1 if carried else 0.0)
        assert after[0, 0, 0].item() == pytest.approx(want)
        assert after[0, 2, a1].item() == pytest.approx(q[0, 2, a1].item() + 0.1 * d1)


@pytest.mark.parametrize("lam", [0.0, 0.8])
def test_q_learning_converges_to_q_star_on_a_deterministic_mdp(lam):
    """Deterministic transitions and rewards, constant alpha, an epsilon-greedy behaviour that visits every pair:
    the table converges to Q* from value iteration (to 1e-6), for Q-learning and Watkins's Q(lambda)."""
    mdp = deterministic_mdp()
    q_star = optimal_action_values(mdp)
    learners, g = 8, torch.Generator().manual_seed(0)
    q = torch.zeros(learners, 4, 2, dtype=F64)
    for _ in range(120):
        ep = rollout(mdp, epsilon_greedy_policy(q, 0.5), learners, g, max_steps=20)
        q, _ = watkins_q_lambda(q, episode_batch(mdp, ep), alpha=0.5, lam=lam)
    assert (q - q_star).abs().max().item() < 1e-6
    assert (q_star - q_star.mean()).abs().max().item() > 0.5  # not a trivial target


def test_monte_carlo_control_update_is_the_summed_return_errors():
    """Every visit: sum_t (G_t - Q(s_t, a_t)) at (s_t, a_t), with a pair visited twice getting both terms."""
    mdp = deterministic_mdp(gamma=0.5)
    q = torch.arange(8, dtype=F64).view(1, 4, 2) / 10
    batch = episode_batch(mdp, one_episode([0, 1, 0], [1, 0, 1], [1.0, 2.0, 4.0], [1, 0, 4]))
    g2, g1 = 4.0, 2.0 + 0.5 * 4.0
    g0 = 1.0 + 0.5 * g1
    expected = torch.zeros(1, 4, 2, dtype=F64)
    expected[0, 0, 1] = (g0 - 0.1) + (g2 - 0.1)
    expected[0, 1, 0] = g1 - 0.2
    torch.testing.assert_close(monte_carlo_errors(q, batch), expected)


def test_mean_monte_carlo_update_is_the_error_to_q_pi():
    """E[update at (s0, a)] over many episodes from a fixed behaviour = Pr(s0, a visited) (Q_pi(s0, a) - Q(s0, a)) on
    delayed_choice, whose choice state is visited once: constant-alpha MC's fixed point is Q_pi."""
    mdp = delayed_choice(delay=3, noise=0.5)
    n = 20_000
    q = torch.zeros(n, mdp.n_states, 2, dtype=F64)
    pi = epsilon_greedy_policy(q[:1], 0.1)
    ep = rollout(mdp, pi[0], n, torch.Generator().manual_seed(1))
    mean = monte_carlo_errors(q, episode_batch(mdp, ep)).mean(0)
    q_pi = action_values(mdp, pi[0])
    torch.testing.assert_close(mean[0], 0.5 * q_pi[0], atol=0.02, rtol=0)


def test_epsilon_greedy_agent_spec_is_validated_and_acts_on_its_action_values():
    with pytest.raises(BioplausError, match="behaviour"):
        agent_spec_from_dict({"n_features": 3, "n_states": 3, "behaviour": "greedy"}, "models/x.toml", "x")
    with pytest.raises(BioplausError, match="epsilon"):
        agent_spec_from_dict({"n_features": 3, "n_states": 3, "behaviour": "epsilon_greedy", "epsilon": 1.5}, "models/x.toml", "x")
    agent = TabularAgent(AgentSpec("a", n_features=3, n_states=3, n_actions=2, learners=2, behaviour="epsilon_greedy", epsilon=0.2))
    with torch.no_grad():
        agent.policy.weight[0, 1, 1] = 1.0
    assert agent.probabilities()[0, 1].tolist() == pytest.approx([0.1, 0.9])
    assert agent.probabilities()[1, 1].tolist() == pytest.approx([0.5, 0.5])


def test_rudder_wraps_q_learning_with_the_redistributed_rewards():
    """RUDDER + Q-learning: the inner rule's update is Q-learning's on the redistributed episode (sum r~ = G_0)."""
    mdp = delayed_choice(delay=2, noise=0.5)
    spec = AgentSpec("a", n_features=mdp.n_features, n_states=mdp.n_states, n_actions=2, learners=4,
                     behaviour="epsilon_greedy")
    agent = TabularAgent(spec)
    rule = Rudder(QLearning())
    rule.setup(agent, torch.Generator().manual_seed(0))
    rule.bind_optimizer(("sgd", {"lr": 0.3}))
    batch = episode_batch(mdp, rollout(mdp, agent.probabilities(), 4, torch.Generator().manual_seed(2)))
    est = rule.estimate(agent, batch)["policy.weight"]
    r = rule.last["redistributed"]
    torch.testing.assert_close(r.sum(1), batch.y[:, 0])
    inner = QLearning()
    inner.bind_optimizer(("sgd", {"lr": 0.3}))
    from bioplaus.rules.rudder import redistributed_batch

    torch.testing.assert_close(est, inner.estimate(agent, redistributed_batch(batch, r))["policy.weight"])
    assert not torch.allclose(est, inner.estimate(agent, batch)["policy.weight"])
