"""Spiking networks in Brian2: neuron models, plasticity rules and the spiking model kind."""
