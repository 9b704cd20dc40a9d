"""Flax NNX modules of the synthesizer."""
