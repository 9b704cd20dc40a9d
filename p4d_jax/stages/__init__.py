"""Stages that are not training: they use a trained model handle to make data (pseudo views)."""
