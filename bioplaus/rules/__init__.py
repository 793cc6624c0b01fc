"""Learning rules: each proposes an update in gradient units through ``estimate(model, batch)``."""

from bioplaus.rules.backprop import Backprop
from bioplaus.rules.base import Batch, LayeredRule, Rule
from bioplaus.rules.direct_feedback_alignment import DirectFeedbackAlignment
from bioplaus.rules.feedback_alignment import FeedbackAlignment
from bioplaus.rules.registry import REGISTRY, get, names
from bioplaus.rules.shallow import Shallow
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
]
