"""Geometry consistency across views by depth reprojection.

A head rendered from two cameras is geometrically consistent when the surface
that camera a sees lands, seen from camera b, at b's depth: unproject a's
pixels with a's depth, project the points into b, and compare their distance
from b's centre with b's depth there. Views of one consistent 3D surface give
0 (up to sampling) wherever the point is visible from both; occluded points
disagree, so the error is the MEDIAN over a's covered pixels, robust while
less than half of them are hidden from b.

Depths follow `p4d_jax.rendering.render`: Euclidean distance along the unit
ray from the camera centre. Cameras are p4d cam2world with normalised
intrinsics, so maps of any resolution work.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays

# A pixel counts as covered when its coverage (opacity or mask) is above this;
# b's depth is read bilinearly only where all four neighbours are covered.
COVERED = 0.95


def _bilinear(image: jax.Array, xy: jax.Array) -> jax.Array:
  """image [H, W], normalised points xy [N, 2] (pixel centres at (j + .5) / W)
  -> [N] bilinear samples, edge-clamped."""
  h, w = image.shape
  x = xy[:, 0] * w - 0.5
  y = xy[:, 1] * h - 0.5
  x0, y0 = jnp.floor(x), jnp.floor(y)
  fx, fy = x - x0, y - y0

  def at(yy, xx):
    return image[jnp.clip(yy, 0, h - 1).astype(jnp.int32),
                 jnp.clip(xx, 0, w - 1).astype(jnp.int32)]

  return ((1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) +
          fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)))


def reprojection_errors(depth_a: jax.Array, cover_a: jax.Array,
                        c2w_a: jax.Array, intr_a: jax.Array,
                        depth_b: jax.Array, cover_b: jax.Array,
                        c2w_b: jax.Array, intr_b: jax.Array
                        ) -> tuple[jax.Array, jax.Array]:
  """Per-pixel |distance from b - b's depth| of a's surface points.

  Args:
    depth_a, cover_a: [H, W] depth and coverage in [0, 1] seen by camera a.
    c2w_a, intr_a: [4, 4], [3, 3].
    depth_b, cover_b, c2w_b, intr_b: the same for camera b (any size).

  Returns:
    errors [H * W] and valid [H * W]: a's pixel is covered, its point lands
    inside b's image in front of b, on pixels b covers.
  """
  h, w = depth_a.shape
  origins, dirs = rays.generate_rays(c2w_a[None], intr_a[None], h, w)
  points = origins[0] + dirs[0] * depth_a.reshape(-1, 1)
  xy, z = cameras.project_points(points, c2w_b, intr_b)
  distance = jnp.linalg.norm(points - cameras.camera_center(c2w_b), axis=-1)
  covered_b = (cover_b > COVERED).astype(jnp.float32)
  inside = (jnp.all((xy >= 0) & (xy <= 1), axis=-1) & (z > 0) &
            (_bilinear(covered_b, xy) > 0.999))
  valid = (cover_a.reshape(-1) > COVERED) & inside
  return jnp.abs(distance - _bilinear(depth_b, xy)), valid


def view_consistency(depth: jax.Array, cover: jax.Array, c2w: jax.Array,
                     intrinsics: jax.Array) -> jax.Array:
  """Median reprojection error over every ordered pair of T views.

  Args:
    depth, cover: [T, H, W]; c2w [T, 4, 4]; intrinsics [T, 3, 3].

  Returns:
    [] the mean over pairs (a, b), a != b, of the median error over a's valid
    pixels (pairs with none are left out; NaN when every pair has none).
  """
  t = depth.shape[0]
  pairs = [(a, b) for a in range(t) for b in range(t) if a != b]
  medians = []
  for a, b in pairs:
    err, valid = reprojection_errors(depth[a], cover[a], c2w[a],
                                     intrinsics[a], depth[b], cover[b],
                                     c2w[b], intrinsics[b])
    medians.append(jnp.nanmedian(jnp.where(valid, err, jnp.nan)))
  return jnp.nanmean(jnp.stack(medians))
