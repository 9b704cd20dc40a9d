"""The expression ceiling: how much eye- and mouth-region PSNR a PERFECT
expression transfer can gain at a given image size and neural resolution,
measured on exact SynthHeads renders (issue 18's "measured, not assumed").

Each pair is one held-out head (identity, lighting, backdrop, pose) seen by
one random camera in two expressions drawn independently: the target
(driver's) and the static one (the source's, what a model ignoring the driver
shows). A model whose renders are the exact images seen at the neural
resolution (area-downsampled by `factor`, bilinearly upsampled back) gains at
most

    gain = PSNR_region(blur(target), target) - PSNR_region(blur(static), target)

per pair (factor >= 2; an exact renderer's perfect transfer has no error
at all, so only its static control's PSNR, `exact_static_psnr`, is
reported). Regions are `synthheads.regions`'
eye and mouth disks at the camera.
"""

from __future__ import annotations

import jax
import numpy as np

from p4d_jax.data import expression_renders
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import regions
from p4d_jax.data.synthheads import render
from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import paired_stats
from p4d_jax.rendering import camera_settings


def render_pairs(pairs: int, resolution: int, seed: int = 0,
                 p_neutral: float = 0.3, supersample: int | None = None
                 ) -> dict:
  """Exact renders [N, S, S, 3] in [0, 1] of `pairs` held-out heads:
  `target`, `static` (same head and camera, the other expression) and the
  region masks [N, 2, S, S] (`regions.REGIONS` order). Anti-aliased with
  `supersample`^2 rays a pixel (default: as many as 128^2 would have)."""
  rng = P.rng_for(seed, "ceiling", resolution)
  target, static = [], []
  for _ in range(pairs):
    scene = expression_renders.random_scene(
        rng, expression_renders.random_expression(rng, p_neutral))
    target.append(scene)
    static.append(scene._replace(expression=(
        expression_renders.random_expression(rng, p_neutral))))
  cams = np.asarray(motion.random_view_cameras(
      rng, pairs, camera_settings.RandomViewRanges()))
  intrinsics = np.broadcast_to(examples.INTRINSICS, (pairs, 3, 3))
  if supersample is None:
    supersample = max(1, 128 // resolution)
  out = {}
  for name, scenes in (("target", target), ("static", static)):
    stacked = P.Scene(*(np.stack(f) for f in zip(*scenes)))
    out[name] = render.render(stacked, cams, intrinsics, resolution,
                              supersample=supersample)["rgb"]
  rel = np.asarray(render.head_relative_camera(
      cams, np.stack([s.pose for s in target])))
  labels = examples.camera_label(rel)
  out["regions"] = np.stack([regions.region_masks(s.identity, label,
                                                  resolution)
                             for s, label in zip(target, labels)])
  return out


def at_neural_resolution(images: np.ndarray, factor: int) -> np.ndarray:
  """[N, S, S, C] seen at S / factor (area) and resized back (bilinear)."""
  if factor == 1:
    return images
  low = image_metrics.area_downsample(images, factor)
  return np.asarray(jax.image.resize(low, images.shape, "linear"))


def ceiling(renders: dict, factor: int) -> dict:
  """`render_pairs`' output -> per region: the perfect transfer's PSNR,
  the static control's (blurred and exact), and the paired gain with its
  bootstrap interval."""
  if factor < 2:
    raise ValueError(f"factor {factor}: the ceiling needs a neural "
                     "resolution below the image's (factor 2 or more).")
  target = renders["target"]
  perfect = at_neural_resolution(target, factor)
  static = at_neural_resolution(renders["static"], factor)
  out = {}
  for k, name in enumerate(regions.REGIONS):
    mask = renders["regions"][:, k]
    with_driver = np.asarray(image_metrics.masked_psnr(perfect, target, mask))
    without = np.asarray(image_metrics.masked_psnr(static, target, mask))
    exact = image_metrics.masked_psnr(renders["static"], target, mask)
    out[name] = dict(perfect_psnr=float(with_driver.mean()),
                     static_psnr=float(without.mean()),
                     exact_static_psnr=float(np.mean(exact)),
                     gain=paired_stats.bootstrap_mean(with_driver - without))
  return out
