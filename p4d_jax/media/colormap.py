"""Depth maps as colour images (near yellow, far purple) for videos, grids."""

from __future__ import annotations

import numpy as np

# Control points of a perceptually ordered yellow -> purple colour map.
_DEPTH_COLORS = np.array([
    [0.99, 0.91, 0.15], [0.55, 0.82, 0.25], [0.13, 0.57, 0.55],
    [0.23, 0.32, 0.55], [0.27, 0.0, 0.33]
])


def colorize_depth(depth: np.ndarray, near: float, far: float,
                   alpha: np.ndarray | None = None) -> np.ndarray:
  """Depth [H, W] -> uint8 [H, W, 3]: near is yellow, far is purple.

  Pixels with `alpha` below 0.5 (background) are black.
  """
  t = np.clip((np.asarray(depth) - near) / max(far - near, 1e-8), 0.0, 1.0)
  x = t * (len(_DEPTH_COLORS) - 1)
  lo = np.floor(x).astype(int).clip(0, len(_DEPTH_COLORS) - 2)
  frac = (x - lo)[..., None]
  rgb = _DEPTH_COLORS[lo] * (1 - frac) + _DEPTH_COLORS[lo + 1] * frac
  if alpha is not None:
    rgb = rgb * (np.asarray(alpha) >= 0.5)[..., None]
  return np.rint(rgb * 255).astype(np.uint8)
