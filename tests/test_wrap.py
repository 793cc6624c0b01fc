"""bioplaus.wrap: a user's module learns with a rule through custom autograd Functions."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import bioplaus
from bioplaus.core import in_exact_backward
from bioplaus import models, rules
from bioplaus.errors import BioplausError
from bioplaus.rate.feedforward import FeedforwardNet
from bioplaus.rate.spec import FeedforwardSpec
from bioplaus.rules.wrap import FeedbackConv2d, FeedbackLinear, exact_gradients, update_feedback, wrapped_layers
from bioplaus.rules import Backprop, Batch
from bioplaus.tasks import cross_entropy


def convnet(seed=0):
    torch.manual_seed(seed)  # torch's own layer initialisation, as a user's module would have
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.BatchNorm2d(5), nn.Flatten(), nn.Linear(5 * 2 * 2, 3),
    ).double()


def image_batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.randn((n, 2, 8, 8), generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g), cross_entropy)


def grads_by_backward(module, batch):
    module.zero_grad(set_to_none=True)
    batch.loss(module(batch.x)).backward()
    return {k: p.grad.clone() for k, p in module.named_parameters()}


def test_wrap_keeps_forward_parameters_and_state_dict_keys():
    net = convnet()
    params = {k: p for k, p in net.named_parameters()}
    x = image_batch().x
    out = net(x)
    wrapped = bioplaus.wrap(net, "feedback_alignment")
    assert wrapped is net
    assert all(p is params[k] for k, p in wrapped.named_parameters())  # an existing optimizer keeps working
    assert isinstance(net[0], FeedbackConv2d) and isinstance(net[3], FeedbackConv2d) and isinstance(net[7], FeedbackLinear)
    torch.testing.assert_close(net(x), out, rtol=0, atol=0)
    keys = set(net.state_dict())
    assert {"0.feedback_weight", "3.feedback_weight", "7.feedback_weight"} <= keys
    assert net[3].feedback_weight.shape == net[3].weight.shape


def test_wrapped_conv_with_feedback_equal_to_forward_kernels_is_backprop():
    reference = convnet()
    batch = image_batch()
    expected = grads_by_backward(reference, batch)
    net = bioplaus.wrap(copy.deepcopy(reference), "feedback_alignment")
    got_random = grads_by_backward(net, batch)
    with torch.no_grad():
        for layer in wrapped_layers(net).values():
            layer.feedback_weight.copy_(layer.weight)
    got = grads_by_backward(net, batch)
    assert got.keys() == expected.keys()
    for k in got:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-10, atol=1e-12, msg=k)
    # guard: with its random kernels the lower layers' gradients differ, the read-out's does not
    torch.testing.assert_close(got_random["7.weight"], expected["7.weight"], rtol=1e-10, atol=1e-12)
    assert not torch.allclose(got_random["0.weight"], expected["0.weight"], atol=1e-6)


def test_wrapped_conv_input_error_is_the_transposed_convolution_with_b():
    # Independent computation: dL/dx of a conv layer is conv_transpose2d(g, B) for the feedback kernel B.
    layer = nn.Conv2d(3, 4, 3, stride=1, padding=1).double()
    bioplaus.wrap(layer, "feedback_alignment", generator=torch.Generator().manual_seed(5))
    x = torch.randn((2, 3, 6, 6), dtype=torch.float64, requires_grad=True)
    g = torch.randn((2, 4, 6, 6), dtype=torch.float64)
    (layer(x) * g).sum().backward()
    expected = torch.nn.functional.conv_transpose2d(g, layer.feedback_weight, padding=1)
    torch.testing.assert_close(x.grad, expected, rtol=1e-12, atol=1e-12)
    # the kernel gradient is the exact local one: correlate x with g, computed by unfolding
    cols = torch.nn.functional.unfold(x.detach(), 3, padding=1)  # (2, 27, 36)
    gw = torch.einsum("bos,bks->ok", g.reshape(2, 4, 36), cols).reshape(layer.weight.shape)
    torch.testing.assert_close(layer.weight.grad, gw, rtol=1e-12, atol=1e-12)


def test_wrapped_mlp_matches_the_layered_rule():
    spec = FeedforwardSpec(name="t", sizes=(5, 7, 6, 3), activations=("tanh", "tanh", "linear"))
    net = models.build(spec, torch.Generator().manual_seed(0)).double()
    seq = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    seq.load_state_dict({k.replace("layers.hidden1", "0").replace("layers.hidden2", "2").replace("layers.output", "4"): v
                         for k, v in net.state_dict().items()})
    g = torch.Generator().manual_seed(2)
    batch = Batch(torch.randn((8, 5), generator=g, dtype=torch.float64), torch.randint(0, 3, (8,), generator=g), cross_entropy)
    names = {"0": "hidden1", "2": "hidden2", "4": "output"}
    for rule_name in ("feedback_alignment", "sign_symmetry_usf", "direct_feedback_alignment"):
        layered = rules.get(rule_name)
        layered.setup(net, torch.Generator().manual_seed(3))
        wrapped = bioplaus.wrap(copy.deepcopy(seq), rule_name, input_shape=(5,))
        if rule_name != "sign_symmetry_usf":
            with torch.no_grad():
                for k, layer in wrapped_layers(wrapped).items():
                    if names[k] in layered.B:  # layered B has the shape of W^T (DFA: (n_l, n_out))
                        layer.feedback_weight.copy_(layered.B[names[k]].t())
        expected = layered.estimate(net, batch)
        got = grads_by_backward(wrapped, batch)
        for k, v in got.items():
            layer, kind = k.split(".")
            torch.testing.assert_close(v, expected[f"layers.{names[layer]}.{kind}"], rtol=1e-10, atol=1e-12, msg=(rule_name, k))


def test_backprop_reference_on_a_wrapped_module_is_exact():
    reference = convnet()
    batch = image_batch()
    net = bioplaus.wrap(copy.deepcopy(reference), "sign_symmetry_usf")
    exact = Backprop().estimate(net, batch)
    expected = grads_by_backward(reference, batch)
    for k in expected:
        torch.testing.assert_close(exact[k], expected[k], rtol=1e-10, atol=1e-12, msg=k)
    with exact_gradients(net):
        assert in_exact_backward()
        inside = {k: g for k, g in zip(dict(net.named_parameters()), torch.autograd.grad(batch.loss(net(batch.x)), list(net.parameters())))}
    assert not in_exact_backward()
    for k in expected:  # inside the context the wrapped layers backpropagate exactly
        torch.testing.assert_close(inside[k], expected[k], rtol=1e-10, atol=1e-12, msg=k)
    usf = rules.get("sign_symmetry_usf").estimate(net, batch)
    assert not torch.allclose(usf["0.weight"], expected["0.weight"], atol=1e-6)


def test_state_dict_round_trip_keeps_forward_and_feedback_weights():
    batch = image_batch()
    net = bioplaus.wrap(convnet(), "kolen_pollack", generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    b0 = net[3].feedback_weight.clone()
    for _ in range(3):
        opt.zero_grad()
        batch.loss(net(batch.x)).backward()
        opt.step()
        update_feedback(net, opt)
    assert not torch.equal(net[3].feedback_weight, b0)  # B learned
    state = copy.deepcopy(net.state_dict())
    fresh = bioplaus.wrap(convnet(seed=7), "kolen_pollack", generator=torch.Generator().manual_seed(2))
    assert not torch.equal(fresh[3].feedback_weight, state["3.feedback_weight"])
    fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, state[k]), k
    net.eval(), fresh.eval()
    torch.testing.assert_close(fresh(batch.x), net(batch.x), rtol=0, atol=0)
    net.train(), fresh.train()
    a, b = grads_by_backward(net, batch), grads_by_backward(fresh, batch)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_kolen_pollack_in_a_user_loop_decays_the_difference():
    net = bioplaus.wrap(nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double(), "kolen_pollack")
    eta, lam = 0.1, 0.2
    opt = torch.optim.SGD(net.parameters(), lr=eta, weight_decay=lam)
    gap0 = (net[2].weight - net[2].feedback_weight).detach().norm()
    g = torch.Generator().manual_seed(0)
    for t in range(1, 11):
        batch = Batch(torch.randn((5, 4), generator=g, dtype=torch.float64), torch.randint(0, 3, (5,), generator=g), cross_entropy)
        opt.zero_grad()
        batch.loss(net(batch.x)).backward()
        opt.step()
        update_feedback(net, opt)
        gap = (net[2].weight - net[2].feedback_weight).detach().norm()
        assert abs(float(gap) - (1 - eta * lam) ** t * float(gap0)) < 1e-12 * float(gap0), t


def test_weight_mirror_on_a_wrapped_convnet_lowers_the_weight_angle():
    from bioplaus.metrics import feedback_alignment_metrics

    net = convnet()
    rule = rules.get("weight_mirror", mirror_every=1)
    rule.setup(net, torch.Generator().manual_seed(0))
    angle = lambda: dict(((m, l), v) for m, l, v in feedback_alignment_metrics(rule.feedback(), rule.feedback_targets(net)))[("weight_angle", "all")]
    before = angle()
    for _ in range(60):
        update_feedback(net)
    assert before > 70 and angle() < 15


def test_dfa_under_wrap_sends_the_output_error_to_every_layer():
    reference = convnet()
    net = bioplaus.wrap(copy.deepcopy(reference), "direct_feedback_alignment", input_shape=(2, 8, 8))
    assert net[3].feedback_weight.shape == (3, 4 * 4 * 4)  # (n_out, numel of conv2's input)
    assert net[7].feedback_weight.shape == (3, 20)
    batch = image_batch()
    got = grads_by_backward(net, batch)
    # Independently, on the plain module: e = dL/d(output) exactly; each lower layer's input x_k gets the
    # error e B_k, so its parameters' DFA gradient is that of the surrogate sum((e B_k) * x_k).
    inputs = {}
    for i in (3, 7):
        reference[i].register_forward_pre_hook(lambda m, a, i=i: inputs.__setitem__(i, a[0]))
    out = reference(batch.x)
    (e,) = torch.autograd.grad(batch.loss(out), out, retain_graph=True)
    top = torch.autograd.grad(batch.loss(out), [reference[7].weight, reference[7].bias], retain_graph=True)
    s3 = ((e @ net[3].feedback_weight).reshape(inputs[3].shape) * inputs[3]).sum()
    low = torch.autograd.grad(s3, [reference[0].weight, reference[0].bias], retain_graph=True)
    s7 = ((e @ net[7].feedback_weight).reshape(inputs[7].shape) * inputs[7]).sum()
    mid = torch.autograd.grad(s7, [reference[3].weight, reference[5].weight, reference[5].bias])
    expected = {"7.weight": top[0], "7.bias": top[1], "0.weight": low[0], "0.bias": low[1],
                "3.weight": mid[0], "5.weight": mid[1], "5.bias": mid[2]}
    assert expected.keys() == got.keys()
    for k in got:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-10, atol=1e-12, msg=k)


def test_wrap_errors_are_clear():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(3))

        def forward(self, x):
            return x * self.w

    for bad, what in ((nn.Sequential(nn.Linear(3, 3), nn.Conv1d(1, 1, 3)), "Conv1d"),
                      (nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2)), "Embedding"),
                      (nn.Sequential(nn.Linear(3, 3), Custom()), "Custom")):
        with pytest.raises(BioplausError, match=f"is a {what}, which owns parameters but is not a supported layer"):
            bioplaus.wrap(bad, "feedback_alignment")
    with pytest.raises(BioplausError, match="needs input_shape"):
        bioplaus.wrap(nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2)), "direct_feedback_alignment")
    with pytest.raises(BioplausError, match="last module"):
        bioplaus.wrap(nn.Sequential(nn.Linear(3, 3), nn.Tanh()), "direct_feedback_alignment", input_shape=(3,))
    with pytest.raises(BioplausError, match="needs an nn.Sequential"):
        bioplaus.wrap(Custom2(), "direct_feedback_alignment", input_shape=(3,))
    with pytest.raises(BioplausError, match="cannot run on wrapped layers"):
        bioplaus.wrap(nn.Linear(3, 2), "shallow")
    with pytest.raises(BioplausError, match="already wrapped"):
        bioplaus.wrap(bioplaus.wrap(nn.Linear(3, 2), "feedback_alignment"), "feedback_alignment")
    with pytest.raises(BioplausError, match="padding_mode='zeros'"):
        bioplaus.wrap(nn.Conv2d(1, 1, 3, padding="same"), "feedback_alignment")
    with pytest.raises(BioplausError, match="unknown rule"):
        bioplaus.wrap(nn.Linear(3, 2), "nonsense")


class Custom2(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 2)

    def forward(self, x):
        return self.b(torch.tanh(self.a(x)))


# -- the convnet model kind and the trainer's generic path ---------------------------------


def test_convnet_spec_is_validated_with_clear_errors(tmp_path):
    good = models.load("convnet_digits")
    assert good.kind == "convnet" and good.feature_shape() == (32, 2, 2)
    cases = [
        ('input_shape = [1, 8]\nchannels = [4]\nn_out = 10\n', "'input_shape' must be a list of three positive integers"),
        ('input_shape = [1, 8, 8]\nchannels = [4]\nn_out = 10\nactivation = "elu"\n', "allowed values are 'relu' or 'tanh'"),
        ('input_shape = [1, 8, 8]\nchannels = [4, 4, 4, 4]\nn_out = 10\n', "shrink the 8x8 input to nothing"),
        ('input_shape = [1, 8, 8]\nchannels = [4]\nn_out = 10\nstride = 2\n', "'stride' is not a known field"),
        ('input_shape = [1, 8, 8]\nchannels = [4]\n', "required field 'n_out' is missing"),
    ]
    for i, (body, message) in enumerate(cases):
        path = tmp_path / f"bad{i}.toml"
        path.write_text('kind = "convnet"\n' + body)
        with pytest.raises(BioplausError) as info:
            models.load(path)
        assert str(path) in str(info.value) and message in str(info.value), str(info.value)


def test_convnet_protocol_runs_every_rule_with_feedback_metrics_and_saved_feedback():
    from bioplaus import Protocol, tasks
    from bioplaus.train import train_run

    names = ["backprop", "direct_feedback_alignment", "sign_symmetry_brsf", "kolen_pollack", "weight_mirror"]
    protocol = Protocol(name="conv_test", task=tasks.Digits(image=True), model="convnet_digits", rules=names,
                        seeds=[0], steps=6, batch_size=16, record_every=3,
                        optimizer=("sgd", {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05}),
                        metrics=["loss", "test_accuracy", "update_angle", "weight_angle", "sign_concordance"])
    with pytest.raises(BioplausError, match="needs image inputs"):
        Protocol(name="x", task=tasks.Digits(), model="convnet_digits", rules=["backprop"])
    results = {name: train_run(protocol, name, 0) for name in names}
    for name, result in results.items():
        assert result.status == "done" and result.steps_done == 6, name
        metrics = {(m, layer) for _, _, m, layer, _ in result.rows}
        assert ("update_angle", "conv1") in metrics, name
        if name in ("sign_symmetry_brsf", "kolen_pollack", "weight_mirror"):
            assert {("weight_angle", "conv2"), ("weight_angle", "output"), ("weight_angle", "all")} <= metrics, name
            assert "feedback/conv2" in result.arrays and result.arrays["feedback/conv2"].shape == (32, 16, 3, 3)
    bp = {(s, layer): v for s, _, m, layer, v in results["backprop"].rows if m == "update_angle"}
    assert bp and all(v == 0 for v in bp.values())  # the reference really is backprop's gradient
    brsf = {(s, layer): v for s, _, m, layer, v in results["sign_symmetry_brsf"].rows if m == "sign_concordance"}
    assert all(v == 1.0 for v in brsf.values())
    again = train_run(protocol, "kolen_pollack", 0)  # bit-for-bit reproducible
    assert again.rows == results["kolen_pollack"].rows


def test_alignment_metrics_of_a_wrapped_module():
    from bioplaus.rules.wrap import alignment_metrics

    batch = image_batch()
    net = bioplaus.wrap(convnet(), "feedback_alignment")
    rows = {(m, layer): v for m, layer, v in alignment_metrics(net, batch)}
    assert rows[("update_angle", "7")] < 1e-5  # the read-out gets the exact gradient
    assert rows[("update_angle", "0")] > 20 and 60 < rows[("weight_angle", "all")] < 120
    with torch.no_grad():
        for layer in wrapped_layers(net).values():
            layer.feedback_weight.copy_(layer.weight)
    rows = {(m, layer): v for m, layer, v in alignment_metrics(net, batch)}
    for layer in ("0", "3", "7", "all"):
        assert rows[("update_angle", layer)] < 1e-5 and rows[("weight_angle", layer)] == 0.0
        assert rows[("norm_ratio", layer)] == 1.0 and rows[("sign_concordance", layer)] == 1.0
