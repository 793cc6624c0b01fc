"""Rules by name, so protocols and the CLI can say ``"feedback_alignment"``."""

from __future__ import annotations

from typing import Any

from bioplaus.errors import BioplausError, allowed
from bioplaus.rules.backprop import Backprop
from bioplaus.rules.base import Rule
from bioplaus.rules.direct_feedback_alignment import DirectFeedbackAlignment
from bioplaus.rules.feedback_alignment import FeedbackAlignment
from bioplaus.rules.kolen_pollack import KolenPollack
from bioplaus.rules.shallow import Shallow
from bioplaus.rules.node_perturbation import NodePerturbation
from bioplaus.rules.reward_modulated_hebbian import RewardModulatedHebbian
from bioplaus.rules.weight_perturbation import WeightPerturbation
from bioplaus.rules.sign_symmetry import SignSymmetryBRSF, SignSymmetryFRSF, SignSymmetryUSF
from bioplaus.rules.weight_mirror import WeightMirror
from bioplaus.rules.equilibrium_propagation import EquilibriumPropagation
from bioplaus.rules.contrastive_learning import ContrastiveLearning
from bioplaus.rules.coupled_learning import CoupledLearning
from bioplaus.rules.backprop_through_time import BackpropThroughTime
from bioplaus.rules.bptt import BPTT
from bioplaus.rules.eprop import EProp
from bioplaus.rules.kf_rtrl import KFRTRL
from bioplaus.rules.reinforce_rtrl import ReinforceRTRL
from bioplaus.rules.rflo import RFLO
from bioplaus.rules.rtrl import RTRL
from bioplaus.rules.sparse_attentive_backtracking import SparseAttentiveBacktracking
from bioplaus.rules.synthetic_gradients import SyntheticGradients
from bioplaus.rules.truncated_bptt import TruncatedBPTT
from bioplaus.rules.uoro import UORO

REGISTRY: dict[str, type[Rule]] = {
    cls.name: cls for cls in (Backprop, Shallow, FeedbackAlignment, DirectFeedbackAlignment)
}
REGISTRY.update({cls.name: cls for cls in (NodePerturbation, WeightPerturbation, RewardModulatedHebbian)})
REGISTRY.update({cls.name: cls for cls in (SignSymmetryUSF, SignSymmetryBRSF, SignSymmetryFRSF, KolenPollack, WeightMirror)})
REGISTRY.update({cls.name: cls for cls in (EquilibriumPropagation, ContrastiveLearning, CoupledLearning, BackpropThroughTime)})
REGISTRY.update({cls.name: cls for cls in (BPTT, TruncatedBPTT, RTRL, UORO, KFRTRL, ReinforceRTRL, EProp, RFLO, SyntheticGradients, SparseAttentiveBacktracking)})


def names() -> list[str]:
    return sorted(REGISTRY)


def get(name: str, **params: Any) -> Rule:
    """A rule by its name, e.g. ``get("feedback_alignment", scale=0.5)``."""
    if name not in REGISTRY:
        raise BioplausError(f"unknown rule {name!r}; allowed rules are {allowed(names())}.")
    try:
        return REGISTRY[name](**params)
    except TypeError as e:
        raise BioplausError(f"rule {name!r}: bad parameters {params!r} ({e}).") from e
