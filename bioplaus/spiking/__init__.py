"""Spiking networks in Brian2: neuron models, plasticity rules (STDP, dopamine-modulated STDP)
and the tasks that run them (the ``spiking`` model kind). Importing this package does not
import Brian2; building a network does."""

from bioplaus.spiking.distal_reward import DistalReward
from bioplaus.spiking.neurons import MODELS as NEURON_MODELS
from bioplaus.spiking.plasticity import STDP, DopamineSTDP, SpikingRule, ThreeFactor
from bioplaus.spiking.poisson_drive import PoissonDrive
from bioplaus.spiking.reward_learning import StimulusReward
from bioplaus.spiking.task import SpikingTask

__all__ = ["NEURON_MODELS", "STDP", "DistalReward", "DopamineSTDP", "PoissonDrive", "SpikingRule", "SpikingTask",
           "StimulusReward", "ThreeFactor"]
