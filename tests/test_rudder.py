"""RUDDER's reward redistribution (Arjona-Medina et al. 2019): return equivalence, credit equal to the advantage with
the exact predictor, and an LSTM predictor that learns to assign the delayed reward to the choice."""

import torch
from torch import nn

from bioplaus.rl.agent import AgentSpec, TabularAgent
from bioplaus.rl.environments import delayed_choice
from bioplaus.rl.episodes import rollout
from bioplaus.rl.mdp import action_values, advantages
from bioplaus.rules.rudder import Rudder, redistribute
from bioplaus.tasks.episodic import episode_batch

F64 = torch.float64


def agent_for(mdp, learners, logits=None):
    agent = TabularAgent(AgentSpec("a", n_features=mdp.n_features, n_states=mdp.n_states, n_actions=mdp.n_actions,
                                   learners=learners))
    if logits is not None:
        with torch.no_grad():
            agent.policy.weight.copy_(logits.expand(learners, -1, -1))
    return agent


def test_redistributed_rewards_sum_to_the_return():
    """Return equivalence (gamma = 1): for any predictions, sum_t r~_t = G_0 per episode, to float precision."""
    g = torch.Generator().manual_seed(0)
    mask = (torch.arange(9).expand(6, 9) < torch.tensor([[9], [1], [4], [7], [2], [9]])).to(F64)
    predictions = torch.randn(6, 9, generator=g, dtype=F64) * 3
    returns = torch.randn(6, generator=g, dtype=F64)
    r = redistribute(predictions, returns, mask)
    torch.testing.assert_close(r.sum(1), returns, rtol=0, atol=1e-12)
    assert torch.all(r[mask == 0] == 0)


class ExactPredictor(nn.Module):
    """g_t = Q_pi(s_t, a_t) from the environment's model."""

    def __init__(self, q):
        super().__init__()
        self.q = q

    def forward(self, states, actions, mask):
        return self.q[states, actions] * mask


def test_with_the_exact_predictor_the_redistributed_reward_is_the_advantage():
    """On the deterministic delayed-choice task, g_t = Q_pi gives r~_t = A_pi(s_t, a_t) for t >= 1: credit_error = 0;
    and r~_0 = Q_pi(s_0, a_0), the whole delayed reward (or none) at the choice."""
    mdp = delayed_choice(6)
    logits = torch.randn(mdp.n_states, 2, generator=torch.Generator().manual_seed(1), dtype=F64)
    agent = agent_for(mdp, 64, logits)
    batch = episode_batch(mdp, rollout(mdp, agent.probabilities(), 64, torch.Generator().manual_seed(2)))
    rule = Rudder()
    rule.setup(agent, torch.Generator().manual_seed(3))
    q = action_values(mdp, agent.probabilities()[0])
    rule.predictor = ExactPredictor(q)
    rule.estimate(agent, batch)
    r = rule.last["redistributed"]
    ep = batch.episodes
    a = advantages(mdp, agent.probabilities()[0])[ep.states, ep.actions]
    torch.testing.assert_close(r[:, 1:] * ep.mask[:, 1:], a[:, 1:] * ep.mask[:, 1:], rtol=0, atol=1e-12)
    torch.testing.assert_close(r[:, 0], ep.actions[:, 0].to(F64))  # Q(s_0, a) = a: reward 1 only for action 1
    assert rule.last["credit_error"] < 1e-12
    rule.predictor = ExactPredictor(torch.zeros_like(q))  # guard: no prediction puts all credit at the end
    rule.estimate(agent, batch)
    assert rule.last["credit_error"] > 0.1


def test_the_lstm_learns_to_credit_the_choice():
    """After 80 Adam steps on batches of 128 episodes (delay 8, uniform policy), the LSTM's prediction at the choice is
    within 0.1 of Q_pi(s_0, a_0) on average, and credit_error has fallen to under half its initial value."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small LSTM steps: extra threads only contend on a shared machine
    try:
        check_lstm_learns()
    finally:
        torch.set_num_threads(threads)


def check_lstm_learns():
    mdp = delayed_choice(8)
    agent = agent_for(mdp, 128)
    rule = Rudder(predictor_lr=0.03)
    rule.setup(agent, torch.Generator().manual_seed(0))
    data = torch.Generator().manual_seed(1)
    errors = []
    for step in range(81):
        batch = episode_batch(mdp, rollout(mdp, agent.probabilities(), 128, data))
        rule.estimate(agent, batch)
        errors.append(rule.last["credit_error"])
        if step < 80:
            rule.after_step(agent, batch, {})
    g0 = rule.predictor(batch.episodes.states, batch.episodes.actions, batch.episodes.mask)[:, 0].detach()
    assert (g0 - batch.episodes.actions[:, 0].to(F64)).abs().mean() < 0.1
    assert errors[-1] < 0.5 * errors[0], (errors[0], errors[-1])
