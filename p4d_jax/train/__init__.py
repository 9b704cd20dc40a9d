"""Training: losses, the shared loop, checkpoints, metrics."""
