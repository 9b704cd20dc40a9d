"""Does a reenactment follow the driver's mouth? (issue 18's user-facing
check: the correlation between the driver's jaw_open and the result's.)

The result's jaw_open is read by analysis by synthesis, like
`evaluation.motion_fit` but along one parameter: the source's exact
SynthHeads head (identity, lighting, backdrop; in head pose, at the frame's
head-relative camera) is rendered at `grid` jaw openings, the other
expression parameters at the driver's values, and the opening with the
smallest mean squared error to the result frame is refined by a parabola
through it and its neighbours. The source head and the cameras are exactly
what the result was asked to show, so only the mouth is left to explain.

Sharpness is left to explain too: a blurry result is read against the
exact renders blurred by each of `BLURS` (Gaussian sigma in pixels of a 64^2
image, scaled to the image's size), and the blur that fits best is kept.
Read against sharp renders only, an exact frame blurred to 22.6 dB PSNR
reads back at r 0.49 (README, Training Psi): the reading would blame the
mouth for the blur.

Besides Pearson's r, the slope of the result's opening on the driver's says
how much of it is followed: a result that ignores the driver has slope ~0
whatever its r (the r of a nearly constant track is noise), and one that
never moves reports r = slope = 0 with `constant` set, not NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.rendering import cameras

JAW = P.index(P.EXPRESSION, "jaw_open")
BLURS = (0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)


def fitted_jaw(images: np.ndarray, scene: dict, labels: np.ndarray,
               driver_expression: np.ndarray, grid: int = 11,
               blurs: tuple[float, ...] = BLURS) -> np.ndarray:
  """images [T, S, S, 3] in [0, 1]; scene: the source's `identity`,
  `lighting`, `background`; labels [T, 25] head-relative cameras; the
  driver's expressions [T, 6]; blurs: the sigmas tried ((0,): sharp only).
  Returns the result's jaw_open [T]."""
  references = jaw_references(scene, labels, driver_expression,
                              images.shape[1], grid)
  return read_jaw(images, references, blurs)


def jaw_references(scene: dict, labels: np.ndarray,
                   driver_expression: np.ndarray, size: int,
                   grid: int = 11) -> tuple[np.ndarray, np.ndarray]:
  """The exact renders `fitted_jaw` reads against (arguments as there; size:
  the images' S): (jaw_open values [grid], renders [T, grid, S, S, 3]).
  Rendered once, they read any number of results of the same frames."""
  t = len(labels)
  values = np.linspace(P.EXPRESSION[JAW].low, P.EXPRESSION[JAW].high, grid,
                       dtype=np.float32)
  expression = np.repeat(np.asarray(driver_expression, np.float32), grid, 0)
  expression[:, JAW] = np.tile(values, t)
  n = t * grid
  fixed = {k: np.repeat(np.asarray(scene[k], np.float32)[None], n, 0)
           for k in ("identity", "lighting", "background")}
  c2w, intrinsics = cameras.unpack_label(np.repeat(
      np.asarray(labels, np.float32), grid, 0))
  rgb = np.asarray(render.render(
      P.Scene(expression=expression, pose=np.zeros((n, len(P.POSE)),
                                                   np.float32), **fixed),
      np.asarray(c2w), np.asarray(intrinsics), size)["rgb"])
  return values, rgb.reshape(t, grid, *rgb.shape[1:])


def read_jaw(images: np.ndarray, references: tuple[np.ndarray, np.ndarray],
             blurs: tuple[float, ...] = BLURS) -> np.ndarray:
  """images [T, S, S, 3] in [0, 1] read against `jaw_references(...)` of
  their frames, or of one frame that all T show: jaw_open [T]."""
  values, rgb = references
  size = images.shape[1]
  images = np.asarray(images, np.float32)[:, None]
  # errors [blurs, T, grid]; each frame keeps the blur of its best fit.
  errors = np.stack([np.mean((blurred(rgb, sigma * size / 64.0) - images) ** 2,
                             axis=(2, 3, 4)) for sigma in blurs])
  best = np.argmin(errors.min(axis=2), axis=0)
  return np.array([_parabola_min(values, errors[b, i])
                   for i, b in enumerate(best)], np.float32)


def blurred(rgb: np.ndarray, sigma: float) -> np.ndarray:
  """[..., S, S, 3] Gaussian-blurred over the two pixel axes."""
  if sigma == 0:
    return rgb
  sigmas = (0,) * (rgb.ndim - 3) + (sigma, sigma, 0)
  return ndimage.gaussian_filter(rgb, sigmas, mode="nearest")


def _parabola_min(values: np.ndarray, errors: np.ndarray) -> float:
  """The minimum of the parabola through the best grid point and its
  neighbours (the grid point itself at the ends or when flat)."""
  i = int(np.argmin(errors))
  if 0 < i < len(values) - 1:
    left, mid, right = errors[i - 1:i + 2]
    curve = left - 2.0 * mid + right
    if curve > 0:
      step = values[1] - values[0]
      return float(values[i] + 0.5 * step * (left - right) / curve)
  return float(values[i])


def correlation(driver_jaw: np.ndarray, result_jaw: np.ndarray) -> dict:
  """Pearson r and the least-squares slope of the result's [T] track on the
  driver's; `constant` when either does not move (then both are 0)."""
  a, b = np.asarray(driver_jaw, np.float64), np.asarray(result_jaw,
                                                        np.float64)
  constant = bool(np.ptp(a) < 1e-6 or np.ptp(b) < 1e-6)
  if constant:
    return dict(r=0.0, slope=0.0, constant=True, frames=int(len(a)))
  da, db = a - a.mean(), b - b.mean()
  return dict(r=float(np.corrcoef(a, b)[0, 1]),
              slope=float(np.sum(da * db) / np.sum(da * da)),
              constant=False, frames=int(len(a)))
