"""Metrics recorded during runs: losses, accuracies and the alignment metrics."""

from bioplaus.metrics.alignment import feedback_alignment_metrics, update_angles, update_angles_from_deltas
from bioplaus.metrics.angles import angle_deg, grouped_angles
from bioplaus.metrics.estimator import estimate_bias_angle, estimate_variance, estimator_curve
from bioplaus.metrics.learned_weights import learned_weight_metrics
from bioplaus.metrics.representation import linear_cka

METRICS = (
    "loss",
    "test_loss",
    "train_accuracy",
    "test_accuracy",
    "update_angle",
    "weight_angle",
    "norm_ratio",
    "sign_concordance",
    "weight_change_angle",
    "weight_distance",
    "representation_cka",
    "estimate_bias_angle",
    "estimate_variance",
    "estimate_log_variance",
    "estimate_bias_z",
    # the Bernoulli toy problem (bioplaus.tasks.bernoulli_target): exact, in closed form
    "firing_probability",
    "loss_gap",
    # spiking networks (bioplaus.spiking): rates, weight distributions, reward
    "output_rate_hz",
    "fraction_near_max",
    "fraction_near_zero",
    "mean_weight",
    "reinforced_weight",
    "rate_hz",
    "reward",
    "relax_steps",
    "gdu_angle",
    "gdu_rel_error",
    "update_norm_ratio",
    "target_angle",
    "reconstruction_error",
    "target_alignment",
    # agents in environments (bioplaus.rl): exact, from the environment's model
    "value_error",
    "value_rms",
    "expected_return",
    "td_error",
    "td_error_omitted",
    "credit_error",
)
LEARNED_WEIGHT_METRICS = ("weight_change_angle", "weight_distance", "representation_cka")
FEEDBACK_METRICS = ("weight_angle", "norm_ratio", "sign_concordance")
ESTIMATOR_METRICS = ("estimate_bias_angle", "estimate_variance")
GDU_METRICS = ("gdu_angle", "gdu_rel_error")

__all__ = [
    "ESTIMATOR_METRICS",
    "GDU_METRICS",
    "FEEDBACK_METRICS",
    "LEARNED_WEIGHT_METRICS",
    "METRICS",
    "angle_deg",
    "estimate_bias_angle",
    "estimate_variance",
    "estimator_curve",
    "feedback_alignment_metrics",
    "grouped_angles",
    "learned_weight_metrics",
    "linear_cka",
    "update_angles",
    "update_angles_from_deltas",
]
