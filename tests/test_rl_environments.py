"""Environments and their exact references (bioplaus.rl): checked against closed forms, Monte Carlo and finite differences."""

import math

import gymnasium
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from bioplaus.errors import BioplausError
from bioplaus.rl.environments import conditioning, delayed_choice, random_walk, random_walk_values, small_mdp
from bioplaus.rl.episodes import BatchedEnv, rollout
from bioplaus.rl.gym_env import TabularEnv
from bioplaus.rl.mdp import action_values, performance, policy_gradient, softmax_policy, state_values, uniform_policy
from bioplaus.rl.returns import discounted_returns


@pytest.mark.parametrize("n", [5, 19])
def test_random_walk_values_match_the_book(n):
    """S&B 2018 Example 6.2 (1/6 ... 5/6) and Example 7.1 (-0.9 ... 0.9): the linear solve gives the closed form."""
    mdp = random_walk(n)
    v = state_values(mdp, uniform_policy(mdp))
    torch.testing.assert_close(v, random_walk_values(n), rtol=0, atol=1e-12)
    if n == 5:
        torch.testing.assert_close(v, torch.arange(1, 6, dtype=torch.float64) / 6, rtol=0, atol=1e-12)


def test_linear_solve_equals_the_mean_of_monte_carlo_returns():
    """v_pi(s) for each start state equals the mean return of 40,000 episodes from s, within 4 standard errors.

    Each of the 4 comparisons fails by chance with probability < 6.4e-5 (normal tail beyond 4 SE), so the test
    fails by chance with probability < 3e-4 (union bound); the seed is fixed, so it is deterministic."""
    mdp = small_mdp(seed=3)
    logits = torch.randn(mdp.n_states, mdp.n_actions, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    pi = softmax_policy(logits)
    ep = rollout(mdp, pi, 40_000, torch.Generator().manual_seed(2))
    g0 = discounted_returns(ep.rewards, mdp.gamma)[:, 0]
    v = state_values(mdp, pi)
    for s in range(mdp.n_states):
        sample = g0[ep.states[:, 0] == s]
        se = float(sample.std() / math.sqrt(sample.numel()))
        assert abs(float(sample.mean()) - float(v[s])) < 4 * se, (s, float(sample.mean()), float(v[s]), se)


def test_exact_policy_gradient_equals_finite_differences_of_exact_performance():
    mdp = small_mdp(seed=0)
    logits = torch.randn(3, mdp.n_states, mdp.n_actions, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    grad = policy_gradient(mdp, logits)
    h = 1e-6
    fd = torch.zeros_like(logits)
    for idx in torch.cartesian_prod(*(torch.arange(k) for k in logits.shape[1:])):
        s, a = int(idx[0]), int(idx[1])
        e = torch.zeros_like(logits)
        e[:, s, a] = h
        fd[:, s, a] = (performance(mdp, logits + e) - performance(mdp, logits - e)) / (2 * h)
    torch.testing.assert_close(grad, fd, rtol=1e-6, atol=1e-8)
    assert grad.abs().max() > 1e-3  # not trivially zero


def test_delayed_choice_credit_is_at_the_choice():
    """Only the first action matters: Q(0, 1) - Q(0, 0) = 1 whatever the delay; later actions have no advantage."""
    for delay in (0, 1, 7):
        mdp = delayed_choice(delay)
        q = action_values(mdp, uniform_policy(mdp))
        assert float(q[0, 1] - q[0, 0]) == pytest.approx(1.0)
        assert torch.allclose(q[1:, 0], q[1:, 1])


def test_conditioning_values_and_features():
    mdp = conditioning(n_steps=10, cue_step=3, reward_step=7)
    v = state_values(mdp, uniform_policy(mdp))
    assert v.tolist() == [1.0] * 8 + [0.0] * 2  # gamma = 1: every step up to the reward predicts it
    assert mdp.features[:3].abs().sum() == 0 and torch.equal(mdp.features[3:], torch.eye(7, dtype=torch.float64))


def test_batched_env_resets_ended_episodes_and_rollout_masks_padding():
    mdp = random_walk(5)
    env = BatchedEnv(mdp, 64, torch.Generator().manual_seed(0))
    for _ in range(50):
        s, a, r, nxt, term = env.step(uniform_policy(mdp))
        assert torch.all(env.states[term] == 2)  # restarted in the centre
        assert torch.all(r[~term] == 0)
    ep = rollout(mdp, uniform_policy(mdp), 256, torch.Generator().manual_seed(0))
    assert torch.all(ep.terminal.sum(1) == 1)  # every episode ended exactly once, on its last real step
    last = ep.mask.sum(1).long() - 1
    assert torch.all(ep.terminal[torch.arange(256), last] == 1)
    assert torch.all(ep.rewards[ep.mask == 0] == 0)


def test_gymnasium_env_interface():
    env = TabularEnv(small_mdp(seed=0))
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert isinstance(env, gymnasium.Env) and env.observation_space.contains(obs)


def test_bad_environment_names_the_field_and_allowed_values():
    from bioplaus.tasks import Episodic

    with pytest.raises(BioplausError, match="allowed values are .*random_walk"):
        Episodic("random_wlak")
    with pytest.raises(BioplausError, match="must be odd"):
        Episodic("random_walk", {"n_states": 4})
    with pytest.raises(BioplausError, match="field 'parameters'"):
        Episodic("random_walk", {"size": 5})


def test_agent_spec_and_pairings_fail_with_one_paragraph_errors(tmp_path):
    from bioplaus import Protocol, rules, tasks
    from bioplaus.models import load

    bad = tmp_path / "bad_agent.toml"
    bad.write_text('kind = "agent"\nn_features = 19\nn_states = 19\nlearners = 0\n')
    with pytest.raises(BioplausError, match=r"bad_agent.toml: field 'learners' must be a positive integer"):
        load(bad)
    bad.write_text('kind = "agent"\nn_features = 19\nn_states = 19\nlearner = 3\n')
    with pytest.raises(BioplausError, match="'learner' is not a known field"):
        load(bad)
    walk = tasks.Episodic("random_walk", {"n_states": 19})
    with pytest.raises(BioplausError, match="n_features = 19 but environment 'random_walk_5' has 5; set the model's n_features to 5"):
        Protocol(name="p", task=tasks.Episodic("random_walk", {"n_states": 5}), model="random_walk_19_agent", rules=["td_lambda"])
    with pytest.raises(BioplausError, match="needs an environment task"):
        Protocol(name="p", task=tasks.Digits(), model="random_walk_19_agent", rules=["td_lambda"])
    with pytest.raises(BioplausError, match="rule 'episodic_reinforce' cannot run on model 'mlp"):
        Protocol(name="p", task=tasks.Digits(), model="mlp_digits", rules=[rules.EpisodicReinforce()])
    Protocol(name="p", task=walk, model="random_walk_19_agent", rules=[rules.TDLambda(0.5)])  # the right pairing builds


def test_delayed_choice_noise_keeps_the_values_and_adds_variance():
    """With noise the expected return of each choice is unchanged (zero-mean noise) and the return's variance is
    delay x noise^2 (checked by Monte Carlo within 4 SE; chance failure < 6.4e-5 each)."""
    quiet, noisy = delayed_choice(6), delayed_choice(6, noise=0.5)
    q0, q1 = action_values(quiet, uniform_policy(quiet)), action_values(noisy, uniform_policy(noisy))
    torch.testing.assert_close(q1[0], q0[0])
    ep = rollout(noisy, uniform_policy(noisy), 20_000, torch.Generator().manual_seed(0))
    g = discounted_returns(ep.rewards, 1.0)[:, 0] - ep.actions[:, 0].to(torch.float64)  # the noise part of the return
    assert torch.all(ep.mask.sum(1) == 7)
    se_mean = float(g.std()) / math.sqrt(g.numel())
    assert abs(float(g.mean())) < 4 * se_mean
    # the variance of a sum of 6 independent +-0.5 terms is 1.5; its sample variance has s.e. ~ sqrt(Var((g - mu)^2) / n)
    se_var = float(((g - g.mean()) ** 2).std()) / math.sqrt(g.numel())
    assert abs(float(g.var()) - 1.5) < 4 * se_var


def test_a_gymnasium_toy_text_environment_gets_its_exact_model():
    """FrozenLake (slippery) read from Gymnasium's own transition table: v_pi(start) of the uniform policy from the
    linear solve equals the mean return of 6,000 episodes stepped by Gymnasium itself (an independent sampler), within
    4 SE (chance failure < 6.4e-5); the batched episodes of the converted model agree too."""
    from bioplaus.rl.gym_env import from_gymnasium
    from bioplaus.tasks import Episodic

    env = gymnasium.make("FrozenLake-v1", is_slippery=True)
    mdp = from_gymnasium(env)
    v0 = float(state_values(mdp, uniform_policy(mdp))[0])
    env.reset(seed=0)
    env.action_space.seed(0)
    returns = []
    for _ in range(6000):
        env.reset()
        total, done = 0.0, False
        while not done:
            _, r, terminated, truncated, _ = env.step(env.action_space.sample())
            total += r
            done = terminated or truncated
        returns.append(total)
    g = torch.tensor(returns, dtype=torch.float64)
    assert 0.005 < v0 < 0.05
    assert abs(float(g.mean()) - v0) < 4 * float(g.std()) / math.sqrt(g.numel())
    ep = rollout(mdp, uniform_policy(mdp), 6000, torch.Generator().manual_seed(0))
    g2 = ep.rewards.sum(1)
    assert abs(float(g2.mean()) - v0) < 4 * float(g2.std()) / math.sqrt(g2.numel())
    assert Episodic("gymnasium", {"id": "FrozenLake-v1"}).mdp().n_states == 16
    with pytest.raises(BioplausError, match="Discrete observation and action spaces"):
        from_gymnasium(gymnasium.make("CartPole-v1"))
