"""Rate-based (PyTorch) network models."""

from bioplaus.rate.feedforward import FeedforwardNet, ForwardPass, activate, activation_slope
from bioplaus.rate.spec import ACTIVATIONS, INITS, FeedforwardSpec

__all__ = ["ACTIVATIONS", "INITS", "FeedforwardNet", "FeedforwardSpec", "ForwardPass", "activate", "activation_slope"]
