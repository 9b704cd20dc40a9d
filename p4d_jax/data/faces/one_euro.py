"""The one-euro filter (Casiez, Roussel and Vogel, CHI 2012): a low-pass
whose cutoff rises with speed, so a still face stops jittering while a
moving one is followed with little lag.

    smoothed = one_euro.smooth(values, fps=25)   # [T, ...] -> [T, ...]
"""

from __future__ import annotations

import numpy as np


def _alpha(cutoff, fps: float):
  """Exponential-smoothing weight of a first-order low-pass at `cutoff` Hz."""
  tau = 1.0 / (2.0 * np.pi * cutoff)
  return 1.0 / (1.0 + tau * fps)


def smooth(values: np.ndarray, fps: float, min_cutoff: float = 1.0,
           beta: float = 0.0, d_cutoff: float = 1.0) -> np.ndarray:
  """Filters a sequence [T, ...] along T, every channel on its own.

  min_cutoff (Hz): the cutoff at rest (lower = steadier, more lag);
  beta: how fast the cutoff rises with speed (units of the values per s);
  d_cutoff (Hz): the low-pass on the speed estimate.
  """
  values = np.asarray(values, np.float64)
  out = np.empty_like(values)
  out[0] = estimate = values[0]
  speed = np.zeros_like(values[0])
  for t in range(1, len(values)):
    raw_speed = (values[t] - estimate) * fps   # against the last estimate
    speed = speed + _alpha(d_cutoff, fps) * (raw_speed - speed)
    cutoff = min_cutoff + beta * np.abs(speed)
    estimate = estimate + _alpha(cutoff, fps) * (values[t] - estimate)
    out[t] = estimate
  return out
