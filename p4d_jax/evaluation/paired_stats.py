"""Paired comparisons over evaluation pairs: a mean difference and its
percentile-bootstrap interval (resampling pairs, so both arms of a pair stay
together)."""

from __future__ import annotations

import numpy as np


def bootstrap_mean(differences, samples: int = 2000, level: float = 0.95,
                   seed: int = 0) -> dict:
  """Per-pair differences [N] -> {mean, low, high, pairs}: the mean and the
  `level` percentile-bootstrap interval of the mean (`samples` resamples of
  the N pairs with replacement, seeded: the same input gives the same
  interval)."""
  d = np.asarray(differences, np.float64).reshape(-1)
  if d.size == 0:
    raise ValueError("bootstrap_mean needs at least one pair.")
  rng = np.random.default_rng(seed)
  means = d[rng.integers(d.size, size=(samples, d.size))].mean(axis=1)
  tail = (1.0 - level) / 2.0 * 100.0
  low, high = np.percentile(means, [tail, 100.0 - tail])
  return dict(mean=float(d.mean()), low=float(low), high=float(high),
              pairs=int(d.size))
