"""Alignment and representation metrics against dense re-computation, numpy and hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bioplaus import Protocol, tasks
from bioplaus.metrics import (
    angle_deg,
    feedback_alignment_metrics,
    grouped_angles,
    learned_weight_metrics,
    linear_cka,
    update_angles_from_deltas,
)
from bioplaus import metrics as M
from bioplaus.metrics.alignment import _LayerPair
from bioplaus.rules import Backprop, Batch, DirectFeedbackAlignment, FeedbackAlignment, Shallow
from bioplaus.rules.base import gradients_from_deltas
from bioplaus.tasks import squared_error
from bioplaus.train import train_run


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def by_key(rows: list[tuple[str, str, float]]) -> dict[tuple[str, str], float]:
    out = {(metric, layer): value for metric, layer, value in rows}
    assert len(out) == len(rows), "duplicate (metric, layer) rows"
    return out


# -- angle_deg --------------------------------------------------------------------------------


def test_angle_of_a_vector_with_itself_is_exactly_zero():
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        v = torch.randn(50, generator=g, dtype=torch.float64) * 1e3
        assert angle_deg(v, v) == 0.0
        assert angle_deg(v, 2.5 * v) == pytest.approx(0.0, abs=1e-6)
        assert angle_deg(v, -v) == 180.0


def test_angle_hand_made_cases():
    assert angle_deg(t(1, 0), t(0, 1)) == pytest.approx(90.0, abs=1e-12)
    assert angle_deg(t(1, 0), t(1, 1)) == pytest.approx(45.0, abs=1e-12)
    assert angle_deg(t(1, 0), t(-1, 1)) == pytest.approx(135.0, abs=1e-12)
    assert angle_deg(t(3, 4), t(-4, 3)) == pytest.approx(90.0, abs=1e-12)
    for theta in (0.1, 0.5, 1.0, math.pi / 3, 2.0, 3.0, math.pi - 1e-3):
        b = t(math.cos(theta), math.sin(theta))
        assert angle_deg(t(1, 0), b) == pytest.approx(math.degrees(theta), rel=1e-12, abs=1e-12)
        # Scaling either vector by a positive number leaves the angle unchanged.
        assert angle_deg(7.0 * t(1, 0), 0.01 * b) == pytest.approx(math.degrees(theta), rel=1e-12, abs=1e-12)


def test_angle_between_matrices_and_lists_is_angle_of_flattened_vectors():
    g = torch.Generator().manual_seed(1)
    a1, a2 = torch.randn((3, 4), generator=g), torch.randn(5, generator=g)
    b1, b2 = torch.randn((3, 4), generator=g), torch.randn(5, generator=g)
    va = np.concatenate([a1.numpy().ravel(), a2.numpy()]).astype(np.float64)
    vb = np.concatenate([b1.numpy().ravel(), b2.numpy()]).astype(np.float64)
    expected = math.degrees(math.acos(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb))))
    assert angle_deg([a1, a2], [b1, b2]) == pytest.approx(expected, abs=1e-9)
    assert angle_deg(a1, b1) == pytest.approx(
        math.degrees(math.acos(float((a1 * b1).sum() / (a1.norm() * b1.norm())))), abs=1e-4
    )


def test_grouped_angles_against_numpy():
    # Groups of several tensors, one of them zero in `a`: it has no angle of its own but counts in `all`.
    g = torch.Generator().manual_seed(3)
    shapes = {"l1.w": (4, 3), "l1.b": (4,), "l2.w": (2, 4), "l3.w": (3, 3)}
    a = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
    b = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
    a["l3.w"] = torch.zeros(3, 3)
    groups = {"l1": ["l1.w", "l1.b"], "l2": ["l2.w"], "l3": ["l3.w"]}
    out = grouped_angles(a, b, groups)
    assert set(out) == {"l1", "l2", "all"}

    def numpy_angle(keys):
        va = np.concatenate([a[k].numpy().ravel() for k in keys]).astype(np.float64)
        vb = np.concatenate([b[k].numpy().ravel() for k in keys]).astype(np.float64)
        return math.degrees(math.acos(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb))))

    assert out["l1"] == pytest.approx(numpy_angle(groups["l1"]), abs=1e-9)
    assert out["l2"] == pytest.approx(numpy_angle(groups["l2"]), abs=1e-9)
    assert out["all"] == pytest.approx(numpy_angle(list(shapes)), abs=1e-9)


@pytest.mark.parametrize("theta", [1e-9, 3e-12, 1e-7, 1e-5])
def test_tiny_angles_keep_relative_accuracy(theta):
    a = t(1, 0)
    b = t(math.cos(theta), math.sin(theta))
    assert angle_deg(a, b) == pytest.approx(math.degrees(theta), rel=1e-6)
    near_180 = angle_deg(a, -b)
    assert 180.0 - near_180 == pytest.approx(math.degrees(theta), rel=1e-3)


def test_angle_with_zero_vector_is_none_and_never_nan():
    assert angle_deg(t(0, 0), t(1, 2)) is None
    assert angle_deg(t(1, 2), t(0, 0)) is None
    assert angle_deg(t(0, 0), t(0, 0)) is None
    g = torch.Generator().manual_seed(2)
    for scale in (1e-150, 1e-20, 1.0, 1e20, 1e150):
        for _ in range(20):
            a = torch.randn(7, generator=g, dtype=torch.float64) * scale
            b = torch.randn(7, generator=g, dtype=torch.float64) * scale
            theta = angle_deg(a, b)
            assert theta is not None and not math.isnan(theta)
            assert 0.0 <= theta <= 180.0
    for bad in (t(float("nan"), 1), t(float("inf"), 1)):
        theta = angle_deg(bad, t(1, 1))
        assert theta is None or not math.isnan(theta)


def test_angle_of_vectors_of_different_sizes_raises():
    with pytest.raises(ValueError):
        angle_deg(t(1, 2), t(1, 2, 3))


# -- update_angles_from_deltas: Gram route and dense route agree with the explicit gradients -----


# 6 -> 300 and 300 -> 4 are narrow (dense route), 300 -> 300 is wide (Gram route) at batch 8.
WIDE_NARROW = (6, 300, 300, 4)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("rule_cls", [FeedbackAlignment, DirectFeedbackAlignment, Shallow, Backprop])
def test_update_angles_from_deltas_match_dense_angles(rule_cls, bias, make_net, autograd_gradient):
    net = make_net(WIDE_NARROW, bias=bias)
    g = torch.Generator().manual_seed(4)
    x = torch.randn((8, WIDE_NARROW[0]), generator=g, dtype=torch.float64)
    y = torch.randn((8, WIDE_NARROW[-1]), generator=g, dtype=torch.float64)
    batch = Batch(x, y, squared_error)
    rule = rule_cls()
    rule.setup(net, torch.Generator().manual_seed(5))

    fp = net.forward_pass(x, y, squared_error)
    deltas = rule.deltas(net, fp)
    reference = Backprop().deltas(net, fp)
    estimate = gradients_from_deltas(net, fp, deltas)
    angles = update_angles_from_deltas(fp.layer_names, fp.inputs, deltas, reference, estimate, bias)

    routes = [
        _LayerPair(xin, bias, dref, dref, [torch.zeros(1)]).gram for xin, dref in zip(fp.inputs, reference)
    ]
    assert routes == [False, True, False], "the test must exercise both routes"

    groups = {name: [f"layers.{name}.weight"] + ([f"layers.{name}.bias"] if bias else []) for name in net.layer_names}
    dense = grouped_angles(rule.estimate(net, batch), autograd_gradient(net, batch), groups)
    assert angles.keys() == dense.keys()
    if rule_cls is Shallow:
        assert set(angles) == {"output", "all"}
    else:
        assert set(angles) == {"hidden1", "hidden2", "output", "all"}
    for layer in dense:
        assert angles[layer] == pytest.approx(dense[layer], abs=1e-8), layer
    if rule_cls is Backprop:
        assert all(v == pytest.approx(0.0, abs=1e-6) for v in angles.values())


def test_update_angles_from_deltas_all_layers_gram_with_small_angles(make_net):
    # Rule deltas = backprop deltas plus a tiny perturbation: angles of ~1e-4 degrees, Gram route everywhere.
    net = make_net((200, 200, 200), bias=True)
    g = torch.Generator().manual_seed(6)
    x = torch.randn((5, 200), generator=g, dtype=torch.float64)
    y = torch.randn((5, 200), generator=g, dtype=torch.float64)
    fp = net.forward_pass(x, y, squared_error)
    reference = Backprop().deltas(net, fp)
    deltas = [d + 1e-6 * d.abs().mean() * torch.randn(d.shape, generator=g, dtype=torch.float64) for d in reference]
    estimate = gradients_from_deltas(net, fp, deltas)
    exact = gradients_from_deltas(net, fp, reference)
    angles = update_angles_from_deltas(fp.layer_names, fp.inputs, deltas, reference, estimate, True)
    groups = {name: [f"layers.{name}.weight", f"layers.{name}.bias"] for name in net.layer_names}
    dense = grouped_angles(estimate, exact, groups)
    assert angles.keys() == dense.keys() == {"hidden1", "output", "all"}
    for layer in dense:
        assert 0 < dense[layer] < 1e-2
        assert angles[layer] == pytest.approx(dense[layer], rel=1e-4), layer


# -- feedback_alignment_metrics ------------------------------------------------------------------


def random_feedback(seed: int):
    g = torch.Generator().manual_seed(seed)
    targets = {"hidden2": torch.randn((7, 5), generator=g), "output": torch.randn((5, 3), generator=g)}
    feedback = {k: torch.randn(v.shape, generator=g) for k, v in targets.items()}
    return feedback, targets


def test_feedback_metrics_of_exact_transpose():
    _, targets = random_feedback(0)
    m = by_key(feedback_alignment_metrics({k: v.clone() for k, v in targets.items()}, targets))
    for layer in ("hidden2", "output", "all"):
        assert m[("weight_angle", layer)] == 0.0
        assert m[("norm_ratio", layer)] == pytest.approx(1.0, abs=1e-15)
        assert m[("sign_concordance", layer)] == 1.0
    assert len(m) == 9


def test_feedback_metrics_against_numpy():
    feedback, targets = random_feedback(1)
    m = by_key(feedback_alignment_metrics(feedback, targets))
    for layer, keys in (("hidden2", ["hidden2"]), ("output", ["output"]), ("all", ["hidden2", "output"])):
        b = np.concatenate([feedback[k].numpy().ravel() for k in keys]).astype(np.float64)
        w = np.concatenate([targets[k].numpy().ravel() for k in keys]).astype(np.float64)
        assert m[("sign_concordance", layer)] == pytest.approx(np.mean(np.sign(b) == np.sign(w)), abs=1e-15)
        assert m[("norm_ratio", layer)] == pytest.approx(np.linalg.norm(b) / np.linalg.norm(w), rel=1e-12)
        cos = b @ w / (np.linalg.norm(b) * np.linalg.norm(w))
        assert m[("weight_angle", layer)] == pytest.approx(math.degrees(math.acos(cos)), abs=1e-9)
    # A random case has partial concordance, not a degenerate 0 or 1.
    assert 0 < m[("sign_concordance", "all")] < 1


def test_feedback_norm_ratio_scales_linearly_and_angle_does_not():
    feedback, targets = random_feedback(2)
    base = by_key(feedback_alignment_metrics(feedback, targets))
    for c in (0.1, 3.0, 250.0):
        scaled = by_key(feedback_alignment_metrics({k: c * v for k, v in feedback.items()}, targets))
        for layer in ("hidden2", "output", "all"):
            assert scaled[("norm_ratio", layer)] == pytest.approx(c * base[("norm_ratio", layer)], rel=1e-6)
            assert scaled[("weight_angle", layer)] == pytest.approx(base[("weight_angle", layer)], abs=1e-4)
            assert scaled[("sign_concordance", layer)] == base[("sign_concordance", layer)]
    flipped = by_key(feedback_alignment_metrics({k: -v for k, v in feedback.items()}, targets))
    for layer in ("hidden2", "output", "all"):
        assert flipped[("weight_angle", layer)] == pytest.approx(180.0 - base[("weight_angle", layer)], abs=1e-4)
        assert flipped[("sign_concordance", layer)] == pytest.approx(1.0 - base[("sign_concordance", layer)], abs=1e-12)


def test_feedback_metrics_of_a_rule_with_b_set_to_wT(make_net):
    net = make_net((5, 7, 6, 3), bias=True)
    fa = FeedbackAlignment()
    fa.setup(net, torch.Generator().manual_seed(0))
    fa.B = {k: v.clone() for k, v in fa.feedback_targets(net).items()}
    m = by_key(feedback_alignment_metrics(fa.feedback(), fa.feedback_targets(net)))
    assert m[("weight_angle", "all")] == 0.0 and m[("sign_concordance", "all")] == 1.0
    assert m[("norm_ratio", "all")] == pytest.approx(1.0, abs=1e-15)
    assert feedback_alignment_metrics({}, {}) == []


# -- linear_cka -----------------------------------------------------------------------------------


def cka_numpy(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. 2019 linear CKA from its definition: |Y^T X|_F^2 / (|X^T X|_F |Y^T Y|_F), centred columns."""
    x = x - x.mean(0)
    y = y - y.mean(0)
    return np.linalg.norm(y.T @ x, "fro") ** 2 / (np.linalg.norm(x.T @ x, "fro") * np.linalg.norm(y.T @ y, "fro"))


def random_orthogonal(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn((n, n), generator=g, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


@pytest.mark.parametrize("n, p", [(20, 5), (6, 30)])  # n >= p and n < p (Gram form)
def test_cka_identity_orthogonal_and_scale_invariance(n, p):
    g = torch.Generator().manual_seed(7)
    x = torch.randn((n, p), generator=g, dtype=torch.float64)
    q = random_orthogonal(p, 8)
    assert torch.allclose(q.t() @ q, torch.eye(p, dtype=torch.float64), atol=1e-12)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x, 3.7 * (x @ q)) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(x + 5.0, x) == pytest.approx(1.0, abs=1e-12)  # centring removes offsets
    # Not every pair is 1: an anisotropic scaling changes it.
    stretch = torch.ones(p, dtype=torch.float64)
    stretch[0] = 10.0
    assert linear_cka(x, x * stretch) < 1 - 1e-3


def test_cka_tiny_case_by_hand():
    # Centred X (4 samples, 2 features): X^T X = 2 I, |X^T X|_F = 2 sqrt(2).
    x = t(1, 0, 0, 1, -1, 0, 0, -1).reshape(4, 2)
    # Y = (1, 2, 3, 4) centres to (-1.5, -0.5, 0.5, 1.5): Y^T Y = 5; Y^T X = (-2, -2), squared norm 8.
    y = t(1, 2, 3, 4).reshape(4, 1)
    expected = 8.0 / (2 * math.sqrt(2) * 5.0)
    assert linear_cka(x, y) == pytest.approx(expected, rel=1e-12)
    assert linear_cka(y, x) == pytest.approx(expected, rel=1e-12)
    assert cka_numpy(x.numpy(), y.numpy()) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("n, p1, p2", [(30, 4, 3), (12, 12, 5), (5, 8, 3), (4, 2, 9), (3, 40, 40)])
def test_cka_matches_numpy_definition_on_both_branches(n, p1, p2):
    rng = np.random.default_rng(n * 100 + p1 * 10 + p2)
    x = rng.normal(size=(n, p1))
    y = x[:, :1] @ rng.normal(size=(1, p2)) + rng.normal(size=(n, p2))  # partly shared
    expected = cka_numpy(x, y)
    got = linear_cka(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(expected, rel=1e-10)
    assert linear_cka(torch.from_numpy(y), torch.from_numpy(x)) == pytest.approx(got, rel=1e-12)
    assert 0 <= got <= 1 + 1e-12
    # float32 inputs are computed in float64.
    assert linear_cka(torch.from_numpy(x).float(), torch.from_numpy(y).float()) == pytest.approx(expected, rel=1e-5)


def test_cka_constant_representation_is_none_and_rows_must_match():
    x = torch.randn((6, 3), generator=torch.Generator().manual_seed(0))
    assert linear_cka(x, torch.ones((6, 4))) is None
    assert linear_cka(torch.full((6, 10), 2.0), x) is None
    with pytest.raises(ValueError):
        linear_cka(x, torch.randn(5, 3))


# -- learned_weight_metrics ---------------------------------------------------------------------


def weights(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "layers.hidden1.weight": torch.randn((4, 3), generator=g, dtype=torch.float64),
        "layers.hidden1.bias": torch.randn(4, generator=g, dtype=torch.float64),
        "layers.output.weight": torch.randn((2, 4), generator=g, dtype=torch.float64),
    }


GROUPS = {"hidden1": ["layers.hidden1.weight", "layers.hidden1.bias"], "output": ["layers.output.weight"]}


def test_learned_weights_identical_rule_and_reference():
    w0, w1 = weights(0), weights(1)
    m = by_key(learned_weight_metrics(w0, w1, {k: v.clone() for k, v in w1.items()}, GROUPS))
    for layer in ("hidden1", "output", "all"):
        assert m[("weight_change_angle", layer)] == 0.0
        assert m[("weight_distance", layer)] == 0.0


def test_learned_weights_rule_did_not_move():
    w0, w1 = weights(0), weights(1)
    m = by_key(learned_weight_metrics(w0, {k: v.clone() for k, v in w0.items()}, w1, GROUPS))
    for layer in ("hidden1", "output", "all"):
        assert m[("weight_distance", layer)] == pytest.approx(1.0, rel=1e-12)
        assert ("weight_change_angle", layer) not in m  # the rule's change is zero: no angle


def test_learned_weights_against_numpy():
    w0, wr, wb = weights(0), weights(1), weights(2)
    # The rule went twice as far as backprop in the same direction: angle 0, distance 1.
    doubled = {k: w0[k] + 2 * (wb[k] - w0[k]) for k in w0}
    m = by_key(learned_weight_metrics(w0, doubled, wb, GROUPS))
    for layer in ("hidden1", "output", "all"):
        assert m[("weight_change_angle", layer)] == pytest.approx(0.0, abs=1e-6)
        assert m[("weight_distance", layer)] == pytest.approx(1.0, rel=1e-12)
    m = by_key(learned_weight_metrics(w0, wr, wb, GROUPS))
    for layer, keys in {**GROUPS, "all": [k for ks in GROUPS.values() for k in ks]}.items():
        f = lambda w: np.concatenate([w[k].numpy().ravel() for k in keys])  # noqa: E731
        dr, db = f(wr) - f(w0), f(wb) - f(w0)
        angle = math.degrees(math.acos(dr @ db / (np.linalg.norm(dr) * np.linalg.norm(db))))
        assert m[("weight_change_angle", layer)] == pytest.approx(angle, abs=1e-9)
        assert m[("weight_distance", layer)] == pytest.approx(np.linalg.norm(f(wr) - f(wb)) / np.linalg.norm(db), rel=1e-12)


# -- a training run: backprop against its own reference, FA learning to align ---------------------


@pytest.fixture(scope="module")
def linear_teacher_runs():
    protocol = Protocol(
        name="test_linear",
        task=tasks.LinearTeacher(n_in=30, n_out=10, n_test=200),
        model="linear_30_20_10",
        rules=["backprop", "feedback_alignment"],
        seeds=[0],
        steps=400,
        batch_size=20,
        optimizer=("sgd", {"lr": 1e-2}),
        record_every=50,
        metrics=["loss", "test_loss", "update_angle", "weight_change_angle", "weight_distance", "representation_cka"],
        cka_samples=200,
        threads=1,
    )
    threads = torch.get_num_threads()
    try:
        return {label: train_run(protocol, label, 0) for label in ("backprop", "feedback_alignment")}
    finally:
        torch.set_num_threads(threads)  # train_run sets the process-wide thread count


def series(result, metric: str, layer: str) -> dict[int, float]:
    return {step: value for step, _, m, l, value in result.rows if m == metric and l == layer}


RECORDED = list(range(0, 401, 50))


def test_backprop_run_matches_its_reference(linear_teacher_runs):
    bp = linear_teacher_runs["backprop"]
    assert bp.status == "done" and bp.steps_done == 400
    for layer in ("hidden1", "output", "all"):
        angles = series(bp, "update_angle", layer)
        assert sorted(angles) == RECORDED
        assert all(v == 0.0 for v in angles.values()), layer
        change = series(bp, "weight_change_angle", layer)
        assert sorted(change) == RECORDED[1:]  # no change yet at step 0: no angle
        assert all(v == pytest.approx(0.0, abs=1e-9) for v in change.values()), layer
        distance = series(bp, "weight_distance", layer)
        assert sorted(distance) == RECORDED[1:]
        assert all(v == pytest.approx(0.0, abs=1e-9) for v in distance.values()), layer
    cka = series(bp, "representation_cka", "hidden1")
    assert sorted(cka) == RECORDED
    assert all(v == pytest.approx(1.0, abs=1e-9) for v in cka.values())
    for k, v in bp.arrays.items():
        if k.startswith("final/"):
            np.testing.assert_array_equal(v, bp.arrays["reference/" + k[len("final/"):]])


def test_feedback_alignment_run_learns_to_align(linear_teacher_runs):
    fa = linear_teacher_runs["feedback_alignment"]
    assert fa.status == "done"
    hidden = series(fa, "update_angle", "hidden1")
    assert sorted(hidden) == RECORDED
    assert 60.0 < hidden[0] < 120.0
    assert hidden[400] < 90.0
    assert all(v == pytest.approx(0.0, abs=1e-6) for v in series(fa, "update_angle", "output").values())
    loss = series(fa, "test_loss", "all")
    assert loss[400] < 0.5 * loss[0]
    # The rule moves the hidden weights differently from backprop.
    assert series(fa, "weight_distance", "hidden1")[400] > 0.0
    assert fa.arrays["feedback/output"].shape == (20, 10)


# -- estimator statistics ------------------------------------------------------------------------

def test_estimator_statistics_match_numpy_and_fall_with_m():
    g = torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(5)
    noise = torch.randn((4000, 3), generator=gen, dtype=torch.float64)
    est = g + 2.0 * noise  # unbiased, covariance 4 I: tr Cov / |g|^2 = 12 / 14
    x = est.numpy()
    var_np = np.trace(np.cov(x[:50].T, ddof=1)) / float((g * g).sum())
    assert M.estimate_variance(est[:50], g) == pytest.approx(var_np, rel=1e-12)
    assert M.estimate_variance(est, g) == pytest.approx(12 / 14, rel=0.1)
    mean = x[:50].mean(0)
    cos = mean @ g.numpy() / np.linalg.norm(mean) / np.linalg.norm(g.numpy())
    assert M.estimate_bias_angle(est[:50], g) == pytest.approx(np.degrees(np.arccos(cos)), abs=1e-6)
    rows = M.estimator_curve(list(est), g, [1, 10, 4000])
    bias = {m: v for m, name, v in rows if name == "estimate_bias_angle"}
    assert bias[4000] < bias[10] and bias[4000] < 3.0
    assert [m for m, name, _ in rows if name == "estimate_variance"] == [10, 4000]
    # a biased estimator's angle levels off at the bias's angle
    biased = est + torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64)
    expected = M.angle_deg(g + torch.tensor([0.0, 0.0, 3.0], dtype=torch.float64), g)
    assert M.estimate_bias_angle(biased, g) == pytest.approx(expected, abs=2.0)
    with pytest.raises(ValueError):
        M.estimate_variance(est[:1], g)
