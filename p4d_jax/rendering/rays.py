"""Per-pixel rays from a camera label's cam2world and normalised intrinsics."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras


def pixel_centers(height: int, width: int) -> tuple[jax.Array, jax.Array]:
  """Normalised pixel centres, each [H * W], pixel (i, j) at index i * W + j.

  x = (j + 0.5) / W runs along image columns, y = (i + 0.5) / H along rows.
  """
  y, x = jnp.meshgrid((jnp.arange(height, dtype=jnp.float32) + 0.5) / height,
                      (jnp.arange(width, dtype=jnp.float32) + 0.5) / width,
                      indexing="ij")
  return x.reshape(-1), y.reshape(-1)


def generate_rays(cam2world: jax.Array,
                  intrinsics: jax.Array,
                  height: int,
                  width: int | None = None,
                  convention: camera_settings.Convention = "p4d"
                  ) -> tuple[jax.Array, jax.Array]:
  """Ray origins and unit directions for every pixel.

  Args:
    cam2world: [B, 4, 4] in `convention`.
    intrinsics: [B, 3, 3] normalised by image size: [[fx, skew, cx],
      [0, fy, cy], [0, 0, 1]] with fx in units of the image width and fy of
      the image height.
    height, width: image size (width defaults to height).
    convention: camera axis convention of `cam2world`.

  Returns:
    origins [B, H * W, 3] and directions [B, H * W, 3] (unit length), ray
    m = i * W + j for pixel row i and column j. Distances along these rays are
    Euclidean distances from the camera centre.
  """
  width = height if width is None else width
  # Work in OpenCV camera axes; the conversion lives in `cameras`.
  c2w = cameras.convert_convention(cam2world, convention, "eg3d")
  x, y = pixel_centers(height, width)
  x = x.astype(c2w.dtype)
  y = y.astype(c2w.dtype)
  fx = intrinsics[:, 0, 0, None]
  fy = intrinsics[:, 1, 1, None]
  cx = intrinsics[:, 0, 2, None]
  cy = intrinsics[:, 1, 2, None]
  skew = intrinsics[:, 0, 1, None]
  x_cam = (x - cx + cy * skew / fy - skew * y / fy) / fx
  y_cam = (y - cy) / fy
  points = jnp.stack([x_cam, y_cam, jnp.ones_like(x_cam)], axis=-1)
  dirs = jnp.einsum("bij,bmj->bmi", c2w[:, :3, :3], points)
  dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
  origins = jnp.broadcast_to(c2w[:, None, :3, 3], dirs.shape)
  return origins, dirs
