"""Spiking networks in torch, trained in the one run loop with surrogate-gradient BPTT as their reference."""

from bioplaus.snn.lif import (
    KIND,
    SpikingNet,
    SpikingSpec,
    lif_constants,
    run_lif,
    smooth_spike,
    surrogate_derivative,
)

__all__ = ["KIND", "SpikingNet", "SpikingSpec", "lif_constants", "run_lif", "smooth_spike", "surrogate_derivative"]
