"""Depth reprojection on an analytic sphere: exact depth maps from two cameras
agree; a surface moved in one view disagrees by exactly the move."""

import jax.numpy as jnp
import numpy as np

from p4d_jax.evaluation import geometry_consistency as G
from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays

RADIUS = 0.5
SIZE = 64


def sphere_view(c2w, intr):
  """Exact ray distance to the sphere |x| = RADIUS and its coverage [S, S]."""
  origins, dirs = rays.generate_rays(c2w[None], intr[None], SIZE)
  o, d = origins[0], dirs[0]
  b = jnp.sum(o * d, -1)
  disc = b * b - (jnp.sum(o * o, -1) - RADIUS**2)
  hit = disc > 0
  depth = jnp.where(hit, -b - jnp.sqrt(jnp.maximum(disc, 0.0)), 0.0)
  return depth.reshape(SIZE, SIZE), hit.reshape(SIZE, SIZE).astype(jnp.float32)


def two_views():
  c2w = cameras.look_at_pose(jnp.array([np.pi / 2, np.pi / 2 + 0.5]),
                             jnp.array([np.pi / 2, np.pi / 2 - 0.2]), 6.0)
  intr = jnp.broadcast_to(cameras.fov_to_intrinsics(jnp.float32(18.0)),
                          (2, 3, 3))
  views = [sphere_view(c2w[i], intr[i]) for i in range(2)]
  depth = jnp.stack([v[0] for v in views])
  cover = jnp.stack([v[1] for v in views])
  return depth, cover, c2w, intr


def test_views_of_one_surface_are_consistent():
  depth, cover, c2w, intr = two_views()
  err, valid = G.reprojection_errors(depth[0], cover[0], c2w[0], intr[0],
                                     depth[1], cover[1], c2w[1], intr[1])
  # Most of the front half is seen by both cameras 29 degrees apart.
  assert float(cover[0].sum()) < 0.5 * SIZE**2   # the sphere has an outline
  assert int(valid.sum()) > 0.5 * float(cover[0].sum())
  # Bilinear reads of a smooth depth: error far below a pixel's footprint
  # (about 0.02 here).
  assert float(jnp.median(err[valid])) < 1e-3
  assert float(G.view_consistency(depth, cover, c2w, intr)) < 1e-3


def test_a_surface_moved_in_one_view_disagrees_by_the_move():
  depth, cover, c2w, intr = two_views()
  moved = depth[1] + 0.1 * cover[1]
  err, valid = G.reprojection_errors(depth[0], cover[0], c2w[0], intr[0],
                                     moved, cover[1], c2w[1], intr[1])
  np.testing.assert_allclose(float(jnp.median(err[valid])), 0.1, atol=1e-3)


def test_no_shared_pixels_give_nan_not_zero():
  depth, cover, c2w, intr = two_views()
  none = jnp.zeros_like(cover)
  assert np.isnan(float(G.view_consistency(depth, none, c2w, intr)))
