"""REINFORCE and actor-critic against the exact policy gradient of a small tabular MDP (statistical tests, fixed seeds).

Each unbiasedness test compares the mean of N independent per-learner estimates with the exact gradient in each
of the 8 components of theta (4 states x 2 actions) at 4 standard errors: by the central limit theorem each
comparison fails by chance with probability about 6.3e-5, so a test fails by chance with probability < 5.1e-4
(union bound). The seeds are fixed, so the outcome is deterministic.
"""

import dataclasses
import math

import pytest
import torch

from bioplaus.rl.agent import AgentSpec, TabularAgent
from bioplaus.rl.environments import small_mdp
from bioplaus.rl.episodes import rollout
from bioplaus.rl.mdp import discounted_visitation, policy_gradient, state_values
from bioplaus.rules.actor_critic import ActorCritic
from bioplaus.rules.episodic_reinforce import EpisodicReinforce
from bioplaus.tasks.episodic import episode_batch

N = 20_000


@pytest.fixture(scope="module")
def setting():
    mdp = small_mdp(seed=0)
    logits = torch.randn(mdp.n_states, mdp.n_actions, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    agent = TabularAgent(AgentSpec("pg", n_features=mdp.n_states, n_states=mdp.n_states, n_actions=mdp.n_actions, learners=N))
    with torch.no_grad():
        agent.policy.weight.copy_(logits.expand(N, -1, -1))
    batch = episode_batch(mdp, rollout(mdp, agent.probabilities(), N, torch.Generator().manual_seed(2)))
    return mdp, logits, agent, batch


def z_scores(estimates, exact):
    """(mean - exact) / standard error, per component."""
    flat = estimates.reshape(estimates.shape[0], -1)
    return (flat.mean(0) - exact.reshape(-1)) / (flat.std(0) / math.sqrt(flat.shape[0]))


def test_reinforce_with_discount_weighting_is_unbiased_and_without_it_biased(setting):
    mdp, logits, agent, batch = setting
    exact = -policy_gradient(mdp, logits)
    unbiased = EpisodicReinforce().estimate(agent, batch)["policy.weight"]
    assert z_scores(unbiased, exact).abs().max() < 4
    biased = EpisodicReinforce(discount_weighting=False).estimate(agent, batch)["policy.weight"]
    assert z_scores(biased, exact).abs().max() > 8  # Nota & Thomas (2020): without gamma^t it is not the gradient of J


def test_reinforce_on_shuffled_returns_has_mean_zero(setting):
    """The control: with another learner's returns the estimate's mean is 0 in every component, not dJ/dtheta."""
    mdp, logits, agent, batch = setting
    shuffled = EpisodicReinforce(shuffle_returns=True).estimate(agent, batch)["policy.weight"]
    assert z_scores(shuffled, torch.zeros_like(logits)).abs().max() < 4
    assert z_scores(shuffled, -policy_gradient(mdp, logits)).abs().max() > 8


def test_a_baseline_keeps_the_mean_and_lowers_the_variance(setting):
    """On the MDP with every reward raised by 3 (returns far from 0, where a baseline matters most)."""
    small, logits, agent, _ = setting
    mdp = dataclasses.replace(small, rewards=small.rewards + 3.0)
    batch = episode_batch(mdp, rollout(mdp, agent.probabilities(), N, torch.Generator().manual_seed(4)))
    exact = -policy_gradient(mdp, logits)
    plain = EpisodicReinforce().estimate(agent, batch)["policy.weight"]
    based = EpisodicReinforce(baseline="exact").estimate(agent, batch)["policy.weight"]
    assert z_scores(based, exact).abs().max() < 4
    var_plain, var_based = plain.reshape(N, -1).var(0).sum(), based.reshape(N, -1).var(0).sum()
    assert var_based < 0.5 * var_plain, (float(var_based), float(var_plain))


def test_actor_critic_with_lambda_one_is_reinforce_with_the_critic_as_baseline(setting):
    mdp, logits, agent, batch = setting
    with torch.no_grad():
        agent.value.weight.copy_(torch.randn(N, mdp.n_states, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    try:
        ac = ActorCritic(lam_theta=1.0, online=False).estimate(agent, batch)["policy.weight"]
        rf = EpisodicReinforce(baseline="learned").estimate(agent, batch)["policy.weight"]
        torch.testing.assert_close(ac, rf, rtol=1e-9, atol=1e-9)
    finally:
        with torch.no_grad():
            agent.value.weight.zero_()


def test_one_step_actor_critic_is_unbiased_with_the_exact_critic_and_biased_with_a_wrong_one(setting):
    """E[delta_t | s_t, a_t] = A_pi(s_t, a_t) + gamma (P e)(s_t, a_t) - e(s_t) for a critic v_hat = v_pi + e: unbiased
    when e = 0; with a random e the mean of the estimates matches the biased target d_gamma(s) pi(a|s) gamma
    [(P e)(s, a) - (P_pi e)(s)] + exact, which is far from the exact gradient (guard)."""
    mdp, logits, agent, batch = setting
    exact = -policy_gradient(mdp, logits)
    pi = agent.probabilities()[0]
    v = state_values(mdp, pi)
    e = 2.0 * torch.randn(mdp.n_states, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    pe = mdp.gamma * torch.einsum("sat,t->sa", mdp.transitions[:, :, : mdp.n_states], e)
    biased = exact - discounted_visitation(mdp, pi).unsqueeze(-1) * pi * (pe - (pi * pe).sum(-1, keepdim=True))
    try:
        for error, target in ((torch.zeros_like(e), exact), (e, biased)):
            with torch.no_grad():
                agent.value.weight.copy_(v + error)
            estimates = ActorCritic(lam_theta=0.0, online=False).estimate(agent, batch)["policy.weight"]
            assert z_scores(estimates, target).abs().max() < 4
        assert z_scores(estimates, exact).abs().max() > 10
    finally:
        with torch.no_grad():
            agent.value.weight.zero_()


def test_online_actor_critic_with_zero_step_sizes_changes_nothing_and_with_tiny_ones_follows_the_offline_sum(setting):
    mdp, logits, agent, batch = setting
    small = episode_batch(mdp, rollout(mdp, agent.probabilities()[:64], 64, torch.Generator().manual_seed(5)))
    sub = TabularAgent(AgentSpec("pg", n_features=4, n_states=4, n_actions=2, learners=64))
    with torch.no_grad():
        sub.policy.weight.copy_(logits.expand(64, -1, -1))
    off = ActorCritic(lam_theta=0.5, lam_w=0.5, online=False).estimate(sub, small)
    on = ActorCritic(lam_theta=0.5, lam_w=0.5, online=True, alpha=1e-7).estimate(sub, small)
    for k in off:
        torch.testing.assert_close(on[k], off[k], rtol=1e-4, atol=1e-6)
