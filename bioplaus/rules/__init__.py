"""Learning rules: each proposes an update in gradient units through ``estimate(model, batch)``."""

from bioplaus.rules.backprop import Backprop
from bioplaus.rules.base import Batch, LayeredRule, Rule
from bioplaus.rules.direct_feedback_alignment import DirectFeedbackAlignment
from bioplaus.rules.feedback_alignment import FeedbackAlignment
from bioplaus.rules.registry import REGISTRY, get, names
from bioplaus.rules.shallow import Shallow
from bioplaus.rules.node_perturbation import NodePerturbation
from bioplaus.rules.reward_modulated_hebbian import RewardModulatedHebbian
from bioplaus.rules.weight_perturbation import WeightPerturbation
from bioplaus.rules.kolen_pollack import KolenPollack
from bioplaus.rules.sign_symmetry import SignSymmetryBRSF, SignSymmetryFRSF, SignSymmetryUSF
from bioplaus.rules.weight_mirror import WeightMirror
from bioplaus.rules.equilibrium_propagation import EquilibriumPropagation
from bioplaus.rules.contrastive_learning import ContrastiveLearning
from bioplaus.rules.coupled_learning import CoupledLearning
from bioplaus.rules.backprop_through_time import BackpropThroughTime

__all__ = [
    "REGISTRY",
    "Backprop",
    "Batch",
    "DirectFeedbackAlignment",
    "FeedbackAlignment",
    "LayeredRule",
    "Rule",
    "Shallow",
    "get",
    "names",
    "NodePerturbation",
    "RewardModulatedHebbian",
    "WeightPerturbation",
    "KolenPollack",
    "SignSymmetryBRSF",
    "SignSymmetryFRSF",
    "SignSymmetryUSF",
    "WeightMirror",
    "EquilibriumPropagation",
    "ContrastiveLearning",
    "CoupledLearning",
    "BackpropThroughTime",
]
