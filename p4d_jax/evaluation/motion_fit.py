"""Expression and head pose of an image of a KNOWN SynthHeads head, by
analysis by synthesis: the AED / APD of reenactment on SynthHeads.

Everything but the motion is known for an eval pair's result: the source's
identity, lighting and backdrop and the driving world camera. The fit searches
the 6 expression and 3 pose parameters whose exact SynthHeads render matches
the image best (mean squared error), with the cross-entropy method: sample a
population around a mean, keep the best few, move the mean and spread to
them. It needs no gradients, which the renderer's hard material edges would
not give, and no trained probe, which would carry its own bias.

  AED = mean |expression(result) - expression(target)| over the 6 dims
  APD = mean |pose(result) - pose(target)| over yaw, pitch, roll (degrees)

Run on the exact target images too, the same fit gives the estimator's own
error (the floor below which AED/APD say nothing).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.evaluation import image_metrics

MOTION = P.EXPRESSION + P.POSE
LOW = np.array([p.low for p in MOTION], np.float32)
HIGH = np.array([p.high for p in MOTION], np.float32)
NEUTRAL = np.clip(np.zeros(len(MOTION), np.float32), LOW, HIGH)


@dataclasses.dataclass(frozen=True)
class FitOptions:
  population: int = 24     # renders per iteration
  elites: int = 6          # the best kept to set the next mean and spread
  iterations: int = 8
  grid: int = 9            # values per parameter in the coordinate pass
  # Images are area-averaged down to this first (0: as they are). At 32^2
  # the eyes are a few pixels and blinks are not recovered (see the tests).
  resolution: int = 0
  seed: int = 0


def _downsample(images: np.ndarray, resolution: int) -> np.ndarray:
  if not resolution:
    return images
  factor = images.shape[1] // resolution
  if factor * resolution != images.shape[1]:
    raise ValueError(f"images of {images.shape[1]}^2 do not reduce to "
                     f"{resolution}^2 by an integer factor.")
  return np.asarray(image_metrics.area_downsample(images, factor))


class _Renderer:
  """Renders motions [M, 9] of one head at one camera -> errors [M] against
  the (downsampled) image."""

  def __init__(self, image, scene, world_c2w, resolution):
    self.target = _downsample(image[None].astype(np.float32), resolution)
    self.scene, self.c2w = scene, world_c2w
    self.resolution = self.target.shape[1]

  def __call__(self, motions: np.ndarray) -> np.ndarray:
    m = len(motions)
    fixed = {k: np.repeat(np.asarray(getattr(self.scene, k),
                                     np.float32)[None], m, 0)
             for k in ("identity", "lighting", "background")}
    k = len(P.EXPRESSION)
    motions = np.asarray(motions, np.float32)
    rgb = render.render(
        P.Scene(expression=motions[:, :k], pose=motions[:, k:], **fixed),
        np.repeat(np.asarray(self.c2w, np.float32)[None], m, 0),
        np.repeat(examples.INTRINSICS[None], m, 0), self.resolution)["rgb"]
    return np.mean((rgb - self.target) ** 2, axis=(1, 2, 3))


def fit_one(image: np.ndarray, scene: P.Scene, world_c2w: np.ndarray,
            options: FitOptions = FitOptions()) -> tuple[np.ndarray, float]:
  """image [S, S, 3] in [0, 1]; scene's identity, lighting and background
  (its expression and pose are ignored); the world camera [4, 4].

  Returns the motion [9] (expression then pose, as `MOTION`) and its error.
  Three passes: the cross-entropy method over all 9 parameters (the pose
  dominates the pixels, so this finds it); a grid over each parameter in
  turn, the others held (each expression parameter moves its own region, so
  this escapes the minima the joint search settles in); the cross-entropy
  method again with a narrow spread.
  """
  errors_of = _Renderer(image, scene, world_c2w, options.resolution)
  rng = np.random.default_rng(options.seed)
  best, best_error = NEUTRAL.copy(), np.inf

  def keep(samples, errors):
    nonlocal best, best_error
    i = int(np.argmin(errors))
    if errors[i] < best_error:
      best, best_error = samples[i].copy(), float(errors[i])

  def cross_entropy(mean, spread, iterations):
    for it in range(iterations):
      samples = mean + spread * rng.standard_normal(
          (options.population, len(MOTION)))
      samples[0] = best if it else mean   # the start itself is a candidate
      samples = np.clip(samples, LOW, HIGH)
      errors = errors_of(samples)
      keep(samples, errors)
      elite = samples[np.argsort(errors)[:options.elites]]
      mean = elite.mean(0)
      spread = np.maximum(elite.std(0), 0.02 * (HIGH - LOW))

  cross_entropy(NEUTRAL, (HIGH - LOW) / 2, options.iterations)
  for d in range(len(MOTION)):
    samples = np.repeat(best[None], options.grid, 0)
    samples[:, d] = np.linspace(LOW[d], HIGH[d], options.grid)
    keep(samples, errors_of(samples))
  cross_entropy(best, 0.05 * (HIGH - LOW), options.iterations // 2)
  return best, best_error


def motion_errors(fitted: np.ndarray, truth: np.ndarray) -> dict:
  """Motions [N, 9] -> per item `aed` (expression units) and `apd`
  (degrees) [N]."""
  k = len(P.EXPRESSION)
  diff = np.abs(np.asarray(fitted) - np.asarray(truth))
  return dict(aed=diff[:, :k].mean(1), apd=np.degrees(diff[:, k:]).mean(1))
