"""Stage-specific training tasks for the shared loop (model, batches, step, evaluation)."""
