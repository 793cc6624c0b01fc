"""Learning rules: each proposes an update in gradient units through ``estimate(model, batch)``."""

from bioplaus.rules.backprop import BPTT, Backprop
from bioplaus.core import Batch
from bioplaus.rules.base import LayeredRule, Rule
from bioplaus.rules.wrap import wrap
from bioplaus.rules.direct_feedback_alignment import DirectFeedbackAlignment
from bioplaus.rules.feedback_alignment import FeedbackAlignment
from bioplaus.rules.registry import get, get_rule, names, rule_class, rule_index, rule_names
from bioplaus.rules.shallow import Shallow
from bioplaus.rules.node_perturbation import NodePerturbation
from bioplaus.rules.reward_modulated_hebbian import RewardModulatedHebbian
from bioplaus.rules.weight_perturbation import WeightPerturbation
from bioplaus.rules.evolution_strategies import EvolutionStrategies
from bioplaus.rules.reinforce import Reinforce
from bioplaus.rules.relax import Relax
from bioplaus.rules.persistent_evolution_strategies import PersistentEvolutionStrategies
from bioplaus.rules.kolen_pollack import KolenPollack
from bioplaus.rules.sign_symmetry import SignSymmetryBRSF, SignSymmetryFRSF, SignSymmetryUSF
from bioplaus.rules.weight_mirror import WeightMirror
from bioplaus.rules.equilibrium_propagation import EquilibriumPropagation
from bioplaus.rules.contrastive_learning import ContrastiveLearning
from bioplaus.rules.coupled_learning import CoupledLearning
from bioplaus.rules.backprop_through_time import BackpropThroughTime
from bioplaus.rules.eprop import EProp
from bioplaus.rules.kf_rtrl import KFRTRL
from bioplaus.rules.reinforce_rtrl import ReinforceRTRL
from bioplaus.rules.rflo import RFLO
from bioplaus.rules.rtrl import RTRL
from bioplaus.rules.sparse_attentive_backtracking import SparseAttentiveBacktracking
from bioplaus.rules.synthetic_gradients import SyntheticGradients
from bioplaus.rules.truncated_bptt import TruncatedBPTT
from bioplaus.rules.uoro import UORO

__all__ = [
    "rule_index",
    "get_rule",
    "rule_class",
    "rule_names",
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
    "EvolutionStrategies",
    "Reinforce",
    "Relax",
    "PersistentEvolutionStrategies",
    "KolenPollack",
    "SignSymmetryBRSF",
    "SignSymmetryFRSF",
    "SignSymmetryUSF",
    "WeightMirror",
    "EquilibriumPropagation",
    "ContrastiveLearning",
    "CoupledLearning",
    "BackpropThroughTime",
    "BPTT",
    "EProp",
    "KFRTRL",
    "RFLO",
    "RTRL",
    "ReinforceRTRL",
    "SparseAttentiveBacktracking",
    "SyntheticGradients",
    "TruncatedBPTT",
    "UORO",
    "wrap",
]
