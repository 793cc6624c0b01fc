"""TD(lambda), true online TD(lambda) and the lambda-return algorithm, checked against mathematics."""

import math

import pytest
import torch

from bioplaus.errors import BioplausError
from bioplaus.rl.environments import conditioning, random_walk
from bioplaus.rl.episodes import rollout
from bioplaus.rl.mdp import discounted_visitation, policy_matrices, state_values, uniform_policy
from bioplaus.rl.returns import discounted_returns
from bioplaus.rules.lambda_return import lambda_return_update
from bioplaus.rules.td_lambda import TDLambda, td_lambda_episode
from bioplaus.rules.true_online_td_lambda import true_online_episode
from bioplaus.rules.value_learning import successor_features

F64 = torch.float64


def episodes_with_features(mdp, n, seed, features=None):
    feats = mdp.features if features is None else features
    ep = rollout(mdp, uniform_policy(mdp), n, torch.Generator().manual_seed(seed))
    x = feats[ep.states] * ep.mask.unsqueeze(-1)
    return ep, x, successor_features(feats, ep.next_states)


def dense_features(n_states, d, seed):
    return torch.randn(n_states, d, generator=torch.Generator().manual_seed(seed), dtype=F64)


def test_offline_td_lambda_equals_the_offline_lambda_return_algorithm():
    """Forward and backward views (S&B 2018 Sec. 12.2): with w fixed, sum_t delta_t z_t = sum_t (G^lambda_t - v_t) x_t."""
    mdp = random_walk(19)
    feats = dense_features(19, 5, 0)
    ep, x, xn = episodes_with_features(mdp, 64, 1, feats)
    w = torch.randn(64, 5, generator=torch.Generator().manual_seed(2), dtype=F64)
    for lam in (0.0, 0.4, 0.9, 1.0):
        w_td, _ = td_lambda_episode(w, x, xn, ep.rewards, ep.mask, 1.0, lam, 0.1, "accumulating", online=False)
        w_lr, _ = lambda_return_update(w, x, xn, ep.rewards, ep.terminal, ep.mask, 1.0, lam, 0.1, sequential=False)
        torch.testing.assert_close(w_td, w_lr, rtol=1e-10, atol=1e-10)


def test_sequential_lambda_return_is_eq_12_4_by_hand():
    """One learner, tabular, a 3-step episode: targets from w_0, updates applied one after the other (a revisit
    sees its earlier update)."""
    x = torch.eye(2, dtype=F64)[[0, 1, 0]].unsqueeze(0)  # states 0, 1, 0, then terminal
    xn = torch.cat([torch.eye(2, dtype=F64)[[1, 0]], torch.zeros(1, 2, dtype=F64)]).unsqueeze(0)
    rewards, terminal = torch.tensor([[0.0, 0.0, 1.0]], dtype=F64), torch.tensor([[0.0, 0.0, 1.0]], dtype=F64)
    w0, lam, alpha = torch.tensor([[0.2, 0.4]], dtype=F64), 0.5, 0.5
    g2 = 1.0
    g1 = 0.0 + (1 - lam) * 0.2 + lam * g2
    g0 = 0.0 + (1 - lam) * 0.4 + lam * g1
    w = [0.2, 0.4]
    w[0] += alpha * (g0 - w[0])
    w[1] += alpha * (g1 - w[1])
    w[0] += alpha * (g2 - w[0])
    out, _ = lambda_return_update(w0, x, xn, rewards, terminal, torch.ones(1, 3, dtype=F64), 1.0, lam, alpha)
    torch.testing.assert_close(out[0], torch.tensor(w, dtype=F64))


def test_td_one_accumulating_is_every_visit_and_replacing_is_first_visit_monte_carlo():
    """Offline TD(1) (Singh & Sutton 1996): accumulating traces give every-visit MC, sum_t (G_t - v(s_t)) x_t;
    replacing traces (tabular, gamma = 1) give first-visit MC, (G at the first visit of s - v(s)) per visited s."""
    mdp = random_walk(5)
    ep, x, xn = episodes_with_features(mdp, 32, 3)
    w = torch.randn(32, 5, generator=torch.Generator().manual_seed(4), dtype=F64)
    g = discounted_returns(ep.rewards, 1.0)
    v = (x * w.unsqueeze(1)).sum(-1)
    every = ((g - v) * ep.mask).unsqueeze(-1).mul(x).sum(1)
    w_acc, _ = td_lambda_episode(w, x, xn, ep.rewards, ep.mask, 1.0, 1.0, 1.0, "accumulating", online=False)
    torch.testing.assert_close(w_acc - w, every, rtol=1e-10, atol=1e-10)
    first = torch.zeros_like(w)
    for i in range(32):
        seen = set()
        for t in range(int(ep.mask[i].sum())):
            s = int(ep.states[i, t])
            if s not in seen:
                seen.add(s)
                first[i, s] = g[i, t] - w[i, s]
    w_rep, _ = td_lambda_episode(w, x, xn, ep.rewards, ep.mask, 1.0, 1.0, 1.0, "replacing", online=False)
    torch.testing.assert_close(w_rep - w, first, rtol=1e-10, atol=1e-10)
    assert not torch.allclose(w_rep, w_acc)  # the walk revisits states, so the two differ


def online_lambda_return_weights(w0, xs, rewards, gamma, lam, alpha):
    """The online lambda-return algorithm (S&B 2018 eq. 12.10), written out for one episode of T steps ending in the
    terminal state: for each horizon h, redo t = 0..h-1 with the truncated lambda-returns G^lambda_{t:h}, whose
    n-step returns bootstrap from the weights w_{t+n-1} of the previous horizons. xs: (T + 1, d) with xs[T] = 0."""
    T = len(rewards)
    main = [w0.clone()]  # main[k] = w_k = w^k_k
    for h in range(1, T + 1):
        def n_step(t, n):
            g = sum(gamma**i * rewards[t + i] for i in range(n))
            return g + gamma**n * float(main[t + n - 1] @ xs[t + n])
        w = w0.clone()
        for t in range(h):
            last = h - t
            g_lam = (1 - lam) * sum(lam ** (n - 1) * n_step(t, n) for n in range(1, last)) + lam ** (last - 1) * n_step(t, last)
            w = w + alpha * (g_lam - float(w @ xs[t])) * xs[t]
        main.append(w)
    return main[-1]


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9])
def test_true_online_td_lambda_equals_the_online_lambda_return_algorithm(lam):
    """van Seijen et al. (2016), Theorem 1: exact for linear function approximation (dense random features)."""
    mdp = random_walk(5)
    feats = dense_features(5, 3, 7)
    gamma, alpha = 0.9, 0.05
    ep, x, xn = episodes_with_features(mdp, 1, 11, feats)
    T = int(ep.mask[0].sum())
    assert T >= 3
    w0 = torch.randn(3, generator=torch.Generator().manual_seed(5), dtype=F64)
    w_to, _ = true_online_episode(w0.unsqueeze(0), x, xn, ep.rewards, ep.mask, gamma, lam, alpha)
    xs = torch.cat([x[0, :T], torch.zeros(1, 3, dtype=F64)])
    expected = online_lambda_return_weights(w0, xs, ep.rewards[0, :T].tolist(), gamma, lam, alpha)
    torch.testing.assert_close(w_to[0], expected, rtol=1e-9, atol=1e-12)
    w_acc, _ = td_lambda_episode(w0.unsqueeze(0), x, xn, ep.rewards, ep.mask, gamma, lam, alpha, "accumulating")
    if lam == 0.0:  # TD(0): all three are one algorithm
        torch.testing.assert_close(w_to, w_acc, rtol=1e-12, atol=1e-12)
    else:  # guard: true online differs from accumulating traces
        assert (w_to - w_acc).abs().max() > 1e-6


def test_dutch_trace_differs_from_accumulating_by_the_factor():
    """Two steps by hand: z_2 = gamma lambda z_1 + (1 - alpha gamma lambda z_1 . x_2) x_2 (dutch) vs + x_2."""
    gamma, lam, alpha = 0.9, 0.8, 0.5
    x = torch.tensor([[[1.0, 2.0], [3.0, -1.0]]], dtype=F64)
    xn = torch.zeros_like(x)
    mask, w0 = torch.ones(1, 2, dtype=F64), torch.zeros(1, 2, dtype=F64)
    rewards = torch.tensor([[0.0, 1.0]], dtype=F64)  # w = 0, offline: delta = (0, 1), so the update is alpha z_2
    z1 = x[0, 0]
    z_acc = gamma * lam * z1 + x[0, 1]
    z_dutch = gamma * lam * z1 + (1 - alpha * gamma * lam * float(z1 @ x[0, 1])) * x[0, 1]
    w_acc, _ = td_lambda_episode(w0, x, xn, rewards, mask, gamma, lam, alpha, "accumulating", online=False)
    w_dut, _ = td_lambda_episode(w0, x, xn, rewards, mask, gamma, lam, alpha, "dutch", online=False)
    torch.testing.assert_close(w_acc[0], alpha * z_acc)
    torch.testing.assert_close(w_dut[0], alpha * z_dutch)
    assert not torch.allclose(w_acc, w_dut)


@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_td_lambda_fixed_point_from_a_linear_solve(lam):
    """The expected offline TD(lambda) update, X^T D (I - gamma lambda P)^-1 (r - (I - gamma P) X w) with D the
    expected visits, vanishes at w_lambda = A^-1 b (dense features, so w_lambda is not v_pi; Sutton 1988, Tsitsiklis &
    Van Roy 1997): the mean of 20,000 sampled updates at w_lambda is within 4 standard errors of 0 in each of 3
    components (chance failure < 3 x 6.4e-5), and at w = 0 it is not (guard)."""
    mdp = random_walk(5)
    gamma = 1.0
    feats = dense_features(5, 3, 3)
    pi = uniform_policy(mdp)
    p, r = policy_matrices(mdp, pi)
    d = torch.diag(discounted_visitation(mdp, pi, gamma=1.0))
    inv = torch.linalg.inv(torch.eye(5, dtype=F64) - gamma * lam * p)
    a = feats.t() @ d @ inv @ (torch.eye(5, dtype=F64) - gamma * p) @ feats
    b = feats.t() @ d @ inv @ r
    w_fix = torch.linalg.solve(a, b)
    n = 20_000
    ep, x, xn = episodes_with_features(mdp, n, 8, feats)
    for w, zero in ((w_fix, True), (torch.zeros(3, dtype=F64), False)):
        w_after, _ = td_lambda_episode(w.expand(n, 3), x, xn, ep.rewards, ep.mask, gamma, lam, 1.0, online=False)
        upd = w_after - w
        mean, se = upd.mean(0), upd.std(0) / math.sqrt(n)
        expected = b - a @ w
        assert torch.all((mean - expected).abs() < 4 * se), (mean, expected, se)
        assert bool(torch.all(expected.abs() < 1e-12)) == zero
    if lam == 0.0:  # one-hot features make w_lambda = v_pi for every lambda; dense ones do not
        assert not torch.allclose(feats @ w_fix, state_values(mdp, pi), atol=1e-3)


def test_td_error_moves_from_reward_to_cue():
    """Schultz, Dayan & Montague (1997): before learning the TD error is at the reward; with v = v_pi it is at the cue's
    onset (the step into the cue state), zero at the reward, and an omitted reward gives a dip of -1 there."""
    mdp = conditioning(n_steps=10, cue_step=3, reward_step=7)
    ep, x, xn = episodes_with_features(mdp, 1, 0)
    before = td_lambda_episode(torch.zeros(1, 7, dtype=F64), x, xn, ep.rewards, ep.mask, 1.0, 0.0, 0.0)[1][0]
    assert before.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    w = state_values(mdp, uniform_policy(mdp))[3:].unsqueeze(0)
    after = td_lambda_episode(w, x, xn, ep.rewards, ep.mask, 1.0, 0.0, 0.0)[1][0]
    assert after.tolist() == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    omitted = td_lambda_episode(w, x, xn, torch.zeros_like(ep.rewards), ep.mask, 1.0, 0.0, 0.0)[1][0]
    assert omitted.tolist() == [0, 0, 1, 0, 0, 0, 0, -1, 0, 0]


def test_bad_arguments_name_the_allowed_values():
    with pytest.raises(BioplausError, match="allowed values are .*dutch"):
        TDLambda(0.5, trace="dutchh")
    with pytest.raises(BioplausError, match=r"\[0, 1\]"):
        TDLambda(1.5)
    with pytest.raises(BioplausError, match="plain SGD"):
        TDLambda(0.5).bind_optimizer(("adam", {"lr": 0.1}))


def test_td_lambda_in_the_run_loop_learns_and_learning_off_does_not():
    """The one run loop: 100 learners on the 19-state walk; value_rms falls with alpha = 0.2 and stays put with alpha = 0
    (the learning-off baseline); the update angle to the exact value-error gradient is recorded."""
    from bioplaus import Protocol
    from bioplaus.protocol import Condition
    from bioplaus.rl.agent import AgentSpec
    from bioplaus.tasks import Episodic
    from bioplaus.train import train_run

    protocol = Protocol(
        name="td_loop", task=Episodic("random_walk", {"n_states": 19}),
        model=AgentSpec("walk", n_features=19, n_states=19, learners=100),
        rules=[Condition(TDLambda(0.8, alpha=0.2), label="on"), Condition(TDLambda(0.8, alpha=0.0), label="off")],
        seeds=[0], steps=10, record_every=1, optimizer=("sgd", {"lr": 1.0}), metrics=["value_rms", "update_angle"])
    final = {}
    for label in ("on", "off"):
        rows = train_run(protocol, label, 0).rows
        rms = {s: v for s, _, m, layer, v in rows if m == "value_rms"}
        final[label] = (rms[0], rms[10])
        angles = [v for s, _, m, layer, v in rows if m == "update_angle" and layer == "value"]
        assert angles if label == "on" else not angles  # no row for a zero estimate
    assert final["on"][1] < 0.7 * final["on"][0]
    assert final["off"][1] == final["off"][0]


def test_random_walk_protocol_builds_with_its_baseline():
    from bioplaus.protocol import load_protocol

    p = load_protocol("protocols/sutton_barto_random_walk.py")
    labels = [c.label for c in p.conditions]
    assert "learning off" in labels and len(labels) == 1 + 3 * 6 * 8
    assert "learning off" in [c.label for c in p.quick_version().conditions]


def test_dopamine_protocol_moves_the_td_error_to_the_cue_and_learning_off_does_not():
    """Through the run loop and the ``dopamine`` probe: after 150 trials of TD(0) the expected TD error is ~1 at the
    cue's onset (step 4 -> 5) and ~0 at the reward, with a dip of ~-1 there when the reward is omitted; with learning
    off it stays at the reward."""
    import dataclasses

    from bioplaus.protocol import load_protocol
    from bioplaus.train import train_run

    p = dataclasses.replace(load_protocol("protocols/schultz1997_dopamine.py"), steps=150, record_every=150)
    got = {}
    for label in ("TD(0)", "learning off"):
        got[label] = {(m, layer): v for s, _, m, layer, v in train_run(p, label, 0).rows if s == 150}
    on, off = got["TD(0)"], got["learning off"]
    assert on[("td_error", "s004")] > 0.95 and abs(on[("td_error", "s015")]) < 0.05
    assert on[("td_error_omitted", "s015")] < -0.95
    assert off[("td_error", "s004")] == 0 and off[("td_error", "s015")] == 1


def test_streaming_transition_step_equals_the_episode_form():
    """td_lambda_transition (the bench's auto-reset stream) over an episode's transitions gives the episode form's
    online weights, and clears the trace at the episode's end."""
    from bioplaus.rules.td_lambda import td_lambda_transition

    mdp = random_walk(19)
    ep, x, xn = episodes_with_features(mdp, 8, 12)
    w0 = torch.randn(8, 19, generator=torch.Generator().manual_seed(1), dtype=F64)
    expected, _ = td_lambda_episode(w0, x, xn, ep.rewards, ep.mask, 1.0, 0.8, 0.1, "accumulating", online=True)
    w, z = w0.clone(), torch.zeros_like(w0)
    for t in range(ep.length):
        live = ep.mask[:, t] > 0
        w_new, z_new, _ = td_lambda_transition(w.clone(), z.clone(), x[:, t], xn[:, t], ep.rewards[:, t], ep.terminal[:, t] > 0,
                                               1.0, 0.8, 0.1)
        w = torch.where(live.unsqueeze(-1), w_new, w)
        z = torch.where(live.unsqueeze(-1), z_new, z)
    torch.testing.assert_close(w, expected, rtol=1e-12, atol=1e-12)
    assert torch.all(z == 0)


def test_agent_reference_gradient_is_what_monte_carlo_descends_and_td0_is_not():
    """The agent's exact value reference is mu (v_hat - v_pi), the gradient of the on-policy value error; the mean
    off-line TD(1) = Monte Carlo update is eta (v_hat - v_pi) with eta the expected visits per episode, i.e. the
    reference times sum(eta): each of the 19 components within 4 standard errors over 3,000 episodes (chance failure
    < 19 x 6.4e-5 = 1.2e-3). TD(0)'s mean semi-gradient from v_hat = 0, eta r_pi, is not (guard: > 10 SE off)."""
    from bioplaus.rl.agent import AgentSpec, TabularAgent
    from bioplaus.tasks.episodic import episode_batch

    mdp = random_walk(19)
    n = 3000
    agent = TabularAgent(AgentSpec("w", n_features=19, n_states=19, learners=n))
    batch = episode_batch(mdp, rollout(mdp, uniform_policy(mdp), n, torch.Generator().manual_seed(9)))
    visits = discounted_visitation(mdp, uniform_policy(mdp), gamma=1.0).sum()
    expected = agent.reference_gradient(batch)["value.weight"][0] * visits
    for lam, close in ((1.0, True), (0.0, False)):
        estimates = TDLambda(lam, alpha=1.0, online=False).estimate(agent, batch)["value.weight"]
        z = (estimates.mean(0) - expected) / (estimates.std(0) / math.sqrt(n))
        assert (z.abs().max() < 4) if close else (z.abs().max() > 10), (lam, z)
