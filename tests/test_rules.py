"""Learning rules against mathematics: autograd, algebraic identities and a hand-computed case."""

from __future__ import annotations

import pytest
import torch

from bioplaus import rules
from bioplaus.errors import BioplausError
from bioplaus.rate.feedforward import FeedforwardNet
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules import Backprop, Batch, DirectFeedbackAlignment, FeedbackAlignment, Shallow
from bioplaus.tasks import cross_entropy, squared_error


def regression_batch(net: FeedforwardNet, n: int = 7, seed: int = 1) -> Batch:
    g = torch.Generator().manual_seed(seed)
    dtype = net.linear(net.layer_names[0]).weight.dtype
    x = torch.randn((n, net.spec.sizes[0]), generator=g, dtype=torch.float64).to(dtype)
    y = torch.randn((n, net.spec.sizes[-1]), generator=g, dtype=torch.float64).to(dtype)
    return Batch(x, y, squared_error)


def assert_same_estimates(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float = 1e-12) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].shape == b[k].shape, k
        torch.testing.assert_close(a[k], b[k], rtol=1e-10, atol=atol, msg=k)


def setup_rule(rule, net, seed=3):
    rule.setup(net, torch.Generator().manual_seed(seed))
    return rule


# -- backprop ----------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
@pytest.mark.parametrize("bias", [True, False])
def test_backprop_equals_autograd(activation, bias, make_net, autograd_gradient):
    net = make_net((5, 8, 6, 3), activation, bias=bias)
    batch = regression_batch(net)
    est = Backprop().estimate(net, batch)
    shapes = {k: v.shape for k, v in net.named_parameters()}
    assert list(est) == list(shapes)
    assert {k: v.shape for k, v in est.items()} == shapes
    assert_same_estimates(est, autograd_gradient(net, batch))


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_chain_rule_reference_deltas_equal_autograd_deltas(activation, make_net):
    from bioplaus.rules.backprop import chain_rule_deltas

    net = make_net((5, 8, 6, 7, 3), activation)
    batch = regression_batch(net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    setup_rule(FeedbackAlignment(), net).deltas(net, fp)  # fills the pass's cache, as a rule does before the metrics
    mine, exact = chain_rule_deltas(net, fp), Backprop().deltas(net, fp)
    assert len(mine) == len(exact) == 4
    for a, b in zip(mine, exact):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_fused_slope_product_is_autograds_kernel(activation, make_net):
    """``times_slope`` multiplies by f'(a) as the slope tensor does, and the float32 chain-rule
    deltas built with it are autograd's bit for bit (same kernels, same order)."""
    from bioplaus.rate.feedforward import activate, activation_slope, times_slope
    from bioplaus.rules.backprop import chain_rule_deltas

    g = torch.Generator().manual_seed(3)
    a, grad = torch.randn((7, 9), generator=g, dtype=torch.float64), torch.randn((7, 9), generator=g, dtype=torch.float64)
    h = activate(activation, a)
    fused = times_slope(activation, grad, a, h)
    torch.testing.assert_close(fused, grad * activation_slope(activation, a, h), rtol=1e-12, atol=0)
    a_ = a.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(activate(activation, a_), a_, grad)
    assert torch.equal(fused, exact)
    net = make_net((5, 8, 6, 3), activation, dtype=torch.float32)
    batch = regression_batch(net)
    fp = net.forward_pass(batch.x, batch.y, batch.loss_fn)
    for mine, exact in zip(chain_rule_deltas(net, fp), Backprop().deltas(net, fp)):
        assert torch.equal(mine, exact)


def test_backprop_equals_autograd_float32_cross_entropy(make_net, autograd_gradient):
    net = make_net((6, 9, 4), "tanh", dtype=torch.float32)
    g = torch.Generator().manual_seed(5)
    batch = Batch(torch.randn((10, 6), generator=g), torch.randint(0, 4, (10,), generator=g), cross_entropy)
    est = Backprop().estimate(net, batch)
    ref = autograd_gradient(net, batch)
    assert est.keys() == ref.keys()
    for k in est:
        torch.testing.assert_close(est[k], ref[k], rtol=1e-5, atol=1e-6, msg=k)


def test_backprop_on_plain_module_matches_central_differences():
    """On a module bioplaus did not build, Backprop's estimate is dL/dtheta: checked entry by entry against
    (L(theta + h e_i) - L(theta - h e_i)) / 2h in float64 (truncation error O(h^2) ~ 1e-12, rounding ~ 1e-16 / h)."""
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2), torch.nn.Sigmoid()).double()
    g = torch.Generator().manual_seed(0)
    batch = Batch(torch.randn((5, 4), generator=g, dtype=torch.float64), torch.rand((5, 2), generator=g, dtype=torch.float64),
                  squared_error)
    est = Backprop().estimate(net, batch)
    assert list(est) == [name for name, _ in net.named_parameters()]
    h = 1e-6
    with torch.no_grad():
        for name, p in net.named_parameters():
            fd = torch.empty_like(p)
            flat, out = p.view(-1), fd.view(-1)
            for i in range(flat.numel()):
                saved = flat[i].item()
                flat[i] = saved + h
                up = batch.loss(net(batch.x)).item()
                flat[i] = saved - h
                down = batch.loss(net(batch.x)).item()
                flat[i] = saved
                out[i] = (up - down) / (2 * h)
            assert fd.abs().max() > 1e-3, name  # the check below would be empty on a vanishing gradient
            torch.testing.assert_close(est[name], fd, rtol=1e-6, atol=1e-9, msg=name)


# -- feedback alignment and DFA reduce to backprop with the right feedback --------------------


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_feedback_alignment_with_transposed_weights_is_backprop(activation, make_net, autograd_gradient):
    net = make_net((5, 7, 6, 8, 3), activation)
    batch = regression_batch(net)
    fa = setup_rule(FeedbackAlignment(), net)
    assert set(fa.B) == {"hidden2", "hidden3", "output"}
    for name in fa.B:
        assert fa.B[name].shape == net.linear(name).weight.t().shape
    fa.B = {name: net.linear(name).weight.detach().t().clone() for name in fa.B}
    assert_same_estimates(fa.estimate(net, batch), autograd_gradient(net, batch))


def test_feedback_alignment_with_random_feedback_differs_from_backprop(make_net, autograd_gradient):
    # Guards the test above: with its own random B, FA is not backprop in the hidden layers.
    net = make_net((5, 7, 6, 8, 3), "tanh")
    batch = regression_batch(net)
    est = setup_rule(FeedbackAlignment(), net).estimate(net, batch)
    ref = autograd_gradient(net, batch)
    torch.testing.assert_close(est["layers.output.weight"], ref["layers.output.weight"], rtol=1e-10, atol=1e-12)
    assert not torch.allclose(est["layers.hidden1.weight"], ref["layers.hidden1.weight"], atol=1e-6)


def test_dfa_is_fa_with_one_hidden_layer(make_net):
    net = make_net((5, 7, 3), "tanh")
    batch = regression_batch(net)
    fa = setup_rule(FeedbackAlignment(), net, seed=11)
    dfa = setup_rule(DirectFeedbackAlignment(), net, seed=12)
    assert set(dfa.B) == set(fa.B) == {"output"}
    assert dfa.B["output"].shape == fa.B["output"].shape
    dfa.B["output"] = fa.B["output"]
    assert_same_estimates(dfa.estimate(net, batch), fa.estimate(net, batch))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("sizes", [(4, 6, 5, 3), (4, 6, 5, 7, 3)])
def test_dfa_with_path_products_is_backprop_for_linear_nets(sizes, bias, make_net, autograd_gradient):
    net = make_net(sizes, "linear", bias=bias)
    batch = regression_batch(net)
    dfa = setup_rule(DirectFeedbackAlignment(), net)
    targets = dfa.feedback_targets(net)
    names = net.layer_names
    assert set(targets) == set(dfa.B) == set(names[1:])
    # Independent product of the forward path above each hidden layer: W_L ... W_{l+1}.
    for i in range(1, len(names)):
        path = torch.eye(net.spec.sizes[-1], dtype=torch.float64)
        for name in names[:i - 1:-1]:
            path = path @ net.linear(name).weight.detach()
        torch.testing.assert_close(targets[names[i]], path.t(), rtol=1e-12, atol=1e-14)
        assert dfa.B[names[i]].shape == targets[names[i]].shape
    dfa.B = {k: v.clone() for k, v in targets.items()}
    assert_same_estimates(dfa.estimate(net, batch), autograd_gradient(net, batch))


def test_shallow_trains_only_the_output_layer(make_net, autograd_gradient):
    net = make_net((5, 7, 6, 3), "tanh")
    batch = regression_batch(net)
    est = Shallow().estimate(net, batch)
    ref = autograd_gradient(net, batch)
    assert est.keys() == ref.keys()
    for k, v in est.items():
        if k.startswith("layers.output."):
            torch.testing.assert_close(v, ref[k], rtol=1e-10, atol=1e-12)
            assert v.abs().sum() > 0
        else:
            assert v.shape == ref[k].shape
            assert torch.count_nonzero(v) == 0, k


# -- no side effects, determinism ------------------------------------------------------------


@pytest.mark.parametrize("rule_cls", [Backprop, Shallow, FeedbackAlignment, DirectFeedbackAlignment])
def test_estimate_has_no_side_effects(rule_cls, make_net):
    net = make_net((5, 7, 6, 3), "tanh")
    batch = regression_batch(net)
    rule = setup_rule(rule_cls(), net)
    params_before = {k: v.detach().clone() for k, v in net.named_parameters()}
    feedback_before = {k: v.clone() for k, v in rule.feedback().items()}
    x_before, y_before = batch.x.clone(), batch.y.clone()
    first = rule.estimate(net, batch)
    second = rule.estimate(net, batch)
    for k, v in net.named_parameters():
        assert torch.equal(v.detach(), params_before[k]), k
        assert v.grad is None, k
    after = rule.feedback()
    assert after.keys() == feedback_before.keys()
    for k in after:
        assert torch.equal(after[k], feedback_before[k]), k
    assert torch.equal(batch.x, x_before) and torch.equal(batch.y, y_before)
    assert first.keys() == second.keys()
    for k in first:
        assert torch.equal(first[k], second[k]), k


@pytest.mark.parametrize("rule_cls", [FeedbackAlignment, DirectFeedbackAlignment])
def test_feedback_depends_only_on_the_rule_generator(rule_cls, make_net):
    # Two nets of the same shape with different weights: B must not depend on W.
    net_a = make_net((5, 7, 6, 3), "tanh", seed=0)
    net_b = make_net((5, 7, 6, 3), "tanh", seed=1)
    assert not torch.equal(net_a.linear("output").weight, net_b.linear("output").weight)
    b1 = setup_rule(rule_cls(), net_a, seed=42).feedback()
    b2 = setup_rule(rule_cls(), net_b, seed=42).feedback()
    b3 = setup_rule(rule_cls(), net_a, seed=43).feedback()
    assert b1.keys() == b2.keys() == b3.keys() == {"hidden2", "output"}
    for k in b1:
        assert torch.equal(b1[k], b2[k]), k
        assert not torch.equal(b1[k], b3[k]), k


def test_feedback_bounds(make_net):
    # Default scale: Glorot bound for FA, 1/sqrt(n_l) for DFA; an explicit scale bounds both.
    net = make_net((5, 40, 30, 3), "tanh")
    fa = setup_rule(FeedbackAlignment(), net).feedback()
    assert fa["hidden2"].abs().max() <= (6.0 / (40 + 30)) ** 0.5
    assert fa["output"].abs().max() <= (6.0 / (30 + 3)) ** 0.5
    dfa = setup_rule(DirectFeedbackAlignment(), net).feedback()
    assert dfa["hidden2"].shape == (40, 3) and dfa["output"].shape == (30, 3)
    assert dfa["hidden2"].abs().max() <= 1 / 40**0.5
    assert dfa["output"].abs().max() <= 1 / 30**0.5
    for b in setup_rule(FeedbackAlignment(scale=0.01), net).feedback().values():
        assert 0 < b.abs().max() <= 0.01


def test_unknown_rule_error_lists_allowed_names():
    with pytest.raises(BioplausError) as info:
        rules.get("nonexistent")
    message = str(info.value)
    assert "nonexistent" in message
    assert {"backprop", "shallow", "feedback_alignment", "direct_feedback_alignment", "sign_symmetry_usf",
            "sign_symmetry_brsf", "sign_symmetry_frsf", "kolen_pollack", "weight_mirror"} <= set(rules.names())
    for name in rules.names():
        assert repr(name) in message


def test_rule_get_with_bad_parameters_raises():
    with pytest.raises(BioplausError, match="feedback_alignment"):
        rules.get("feedback_alignment", nonsense=1)
    assert rules.get("feedback_alignment", scale=0.5).scale == 0.5


# -- a tiny case by hand ------------------------------------------------------------------


def test_feedback_alignment_tiny_case_by_hand():
    # 2-2-1 linear net, no bias, one example, loss 1/2 (y_hat - y)^2.
    x1, x2 = 1.0, 2.0
    w11, w12, w21, w22 = 1.0, -1.0, 2.0, 0.5  # hidden1 weights (2 x 2)
    v1, v2 = 2.0, 1.0  # output weights (1 x 2)
    b1, b2 = 0.5, -1.0  # FA feedback, shape of the output weights transposed (2 x 1)
    y = 3.0

    spec = FeedforwardSpec(name="tiny", sizes=(2, 2, 1), activations=("linear", "linear"), bias=False)
    net = FeedforwardNet(spec)
    with torch.no_grad():
        net.linear("hidden1").weight.copy_(torch.tensor([[w11, w12], [w21, w22]]))
        net.linear("output").weight.copy_(torch.tensor([[v1, v2]]))
    fa = FeedbackAlignment()
    fa.setup(net, torch.Generator().manual_seed(0))
    fa.B = {"output": torch.tensor([[b1], [b2]])}
    batch = Batch(torch.tensor([[x1, x2]]), torch.tensor([[y]]), squared_error)

    h1, h2 = w11 * x1 + w12 * x2, w21 * x1 + w22 * x2
    y_hat = v1 * h1 + v2 * h2
    e = y_hat - y  # dLoss/dy_hat
    d1, d2 = b1 * e, b2 * e  # FA hidden deltas (linear units: slope 1)

    est = fa.estimate(net, batch)
    assert est.keys() == {"layers.hidden1.weight", "layers.output.weight"}
    torch.testing.assert_close(est["layers.output.weight"], torch.tensor([[e * h1, e * h2]]), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        est["layers.hidden1.weight"], torch.tensor([[d1 * x1, d1 * x2], [d2 * x1, d2 * x2]]), rtol=0, atol=1e-6
    )
    assert float(squared_error(net(batch.x).detach(), batch.y)) == pytest.approx(0.5 * e**2)

    fp = net.forward_pass(batch.x, batch.y, squared_error)
    deltas = fa.deltas(net, fp)
    torch.testing.assert_close(deltas[0], torch.tensor([[d1, d2]]), rtol=0, atol=1e-6)
    torch.testing.assert_close(deltas[1], torch.tensor([[e]]), rtol=0, atol=1e-6)
    # Backprop on the same case uses the forward weights instead of B.
    bp = Backprop().estimate(net, batch)
    torch.testing.assert_close(
        bp["layers.hidden1.weight"], torch.tensor([[v1 * e * x1, v1 * e * x2], [v2 * e * x1, v2 * e * x2]]), rtol=0, atol=1e-6
    )
