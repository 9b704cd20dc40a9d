"""Exact pseudo views: what a perfect Psi3d would render, from SynthHeads.

The pseudo multi-view stage normally asks a trained Psi3d for the K novel
views of each clip frame. For SynthHeads clips the scene of every frame is
known (identity, lighting, backdrop, the frame's expression and head pose),
so the same K cameras can be rendered exactly instead: the upper bound of any
Psi3d, as the `oracle` motion source is of any extractor. Psi trained on them
measures how much of its expression transfer its Psi3d's pseudo views cost.

The views' cameras are head-relative (the labels models are trained with);
the head's pose at the frame takes them back to the world cameras SynthHeads
renders (`render.head_relative_camera` inverted), so a view at the frame's
own camera is the frame itself.
"""

from __future__ import annotations

import functools

import numpy as np

from p4d_jax.data import builders
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import render
from p4d_jax.evaluation import image_metrics
from p4d_jax.media import image_io

# `Settings.checkpoint` of exact views (config.checkpoint = EXACT).
EXACT = "exact"


class ExactViewRenderer:
  """SynthHeads' exact renders of clip frames at given cameras.

  Called like `pseudo_views.PseudoViewRenderer` but reads the frames'
  scenes, not their images: uint8 images [F, K, S, S, 3], uint8 coverage
  [F, K, N, N] and depth [F, K, N, N] (the coverage-weighted mean of each
  block's hits, 0 where there are none) at neural resolution N.
  """

  def __init__(self, size: str, neural_resolution: int):
    self.spec = builders.SIZES[size]
    self.image_size = self.spec.resolution
    self.neural_resolution = neural_resolution
    if self.image_size % neural_resolution:
      raise ValueError(f"neural_resolution {neural_resolution} must divide "
                       f"the clips' {self.image_size}^2.")

  @functools.lru_cache(maxsize=8)
  def _clip(self, clip_id: int):
    """(scenes, their head-to-world transforms [T, 4, 4]) of a clip."""
    scenes, _ = examples.clip_scenes(self.spec, clip_id)
    pose = np.stack([s.pose for s in scenes])
    return scenes, np.asarray(render.head_to_world(pose), np.float32)

  def __call__(self, image: np.ndarray, c2w: np.ndarray,
               intrinsics: np.ndarray, key, clip_ids: np.ndarray,
               frame_indices: np.ndarray) -> dict:
    """c2w [F, K, 4, 4] head-relative; `image`, `intrinsics` (SynthHeads'
    own) and `key` are unused: the scene decides every pixel."""
    del image, intrinsics, key
    f, k = c2w.shape[:2]
    scenes, world = [], []
    for i, (clip_id, t) in enumerate(zip(clip_ids, frame_indices)):
      clip_scenes, head_to_world = self._clip(int(clip_id))
      scenes += [clip_scenes[int(t)]] * k
      world.append(head_to_world[int(t)] @ c2w[i])   # [K, 4, 4]
    out = examples.render_raw(self.spec, scenes,
                              np.concatenate(world).astype(np.float32))
    s, n = self.image_size, self.neural_resolution
    down = lambda x: np.asarray(   # noqa: E731  block means, S^2 -> N^2
        image_metrics.area_downsample(x, s // n))
    mask = down(out["mask"])
    depth = down(out["depth"] * out["mask"]) / np.maximum(mask, 1e-6)
    return dict(
        image=image_io.to_uint8(out["rgb"] * 2.0 - 1.0).reshape(f, k, s, s, 3),
        mask=image_io.to_uint8(mask * 2.0 - 1.0).reshape(f, k, n, n),
        depth=np.where(mask > 0, depth, 0.0).astype(np.float32).reshape(
            f, k, n, n))
