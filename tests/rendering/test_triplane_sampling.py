"""Tri-plane lookup semantics and depth sampling, against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.rendering import sampling
from p4d_jax.rendering import triplane


def _texel_center(k, n):
  return (2 * k + 1) / n - 1


def test_texel_centres_return_texels_and_far_points_return_zero():
  h, w, c = 5, 7, 3
  planes = jax.random.normal(jax.random.key(0), (1, 3, h, w, c))
  table = triplane.flatten_planes(planes)
  rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  grid = np.stack([_texel_center(cols, w), _texel_center(rows, h)],
                  -1).reshape(-1, 2)
  for p in range(3):
    got = triplane.lookup(table, jnp.full((h * w,), p * h * w), grid, h, w)
    np.testing.assert_allclose(got, planes[0, p].reshape(-1, c), atol=1e-6)
  far = jnp.array([[5.0, 0.0], [0.0, -3.0], [1e6, 1e6]])
  np.testing.assert_array_equal(
      triplane.lookup(table, jnp.zeros((3,), jnp.int32), far, h, w), 0.0)


def test_box_edge_is_half_a_texel_beyond_the_last_centre():
  # A constant plane: inside the centres the value is exact; at gx = 1 the
  # right neighbour is outside (zero), so half of the value remains.
  planes = jnp.ones((1, 3, 4, 4, 1))
  table = triplane.flatten_planes(planes)
  grid = jnp.array([[0.0, 0.0], [_texel_center(3, 4), 0.0], [1.0, 0.0],
                    [1.0 + 2.0 / 4, 0.0]])
  got = triplane.lookup(table, jnp.zeros((4,), jnp.int32), grid, 4, 4)[:, 0]
  np.testing.assert_allclose(got, [1.0, 1.0, 0.5, 0.0], atol=1e-6)


def test_linear_planes_are_reproduced_exactly_between_centres():
  # Bilinear interpolation of a function linear in (col, row) is exact.
  h, w = 6, 9
  rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  plane = (2.0 * cols - 3.0 * rows)[..., None].astype(np.float32)
  planes = jnp.asarray(np.broadcast_to(plane, (1, 3, h, w, 1)))
  rng = np.random.default_rng(0)
  u = rng.uniform(0, w - 1, 50)
  v = rng.uniform(0, h - 1, 50)
  grid = np.stack([(2 * u + 1) / w - 1, (2 * v + 1) / h - 1], -1)
  got = triplane.lookup(triplane.flatten_planes(planes),
                        jnp.zeros((50,), jnp.int32), grid, h, w)[:, 0]
  np.testing.assert_allclose(got, 2.0 * u - 3.0 * v, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("axes", ["p4d", "eg3d"])
def test_projection_axes_and_aggregation(axes):
  # Plane p stores the constant p + 1: the mean is 2, the sum 6.
  planes = jnp.stack([jnp.full((4, 4, 2), p + 1.0) for p in range(3)])[None]
  points = jnp.zeros((1, 5, 3))
  mean = triplane.sample_triplane(planes, points, axes, 1.0)
  total = triplane.sample_triplane(planes, points, axes, 1.0,
                                   aggregation="sum")
  np.testing.assert_allclose(mean, 2.0)
  np.testing.assert_allclose(total, 6.0)
  pts = jnp.array([[0.1, 0.2, 0.3]])
  grids = triplane.project_to_planes(pts, axes, box_warp=2.0)
  expected_plane1 = [0.2, 0.3] if axes == "p4d" else [0.1, 0.3]
  np.testing.assert_allclose(grids[0], [[0.1, 0.2], expected_plane1,
                                        [0.3, 0.1]], atol=1e-7)


def test_box_warp_scale_shrinks_the_box():
  pts = jnp.array([[[0.3, 0.0, 0.0]]])
  a = triplane.project_to_planes(pts, "p4d", 1.3, 1.0)
  b = triplane.project_to_planes(pts, "p4d", 1.3, 0.5)
  np.testing.assert_allclose(b, 2 * a, rtol=1e-6)


def test_stratified_depths_cover_range_in_order():
  jitter = jnp.zeros((2, 5))
  d = sampling.stratified_depths(jitter, jnp.array([1.0, 2.0]),
                                 jnp.array([3.0, 6.0]))
  np.testing.assert_allclose(d, [[1, 1.5, 2, 2.5, 3], [2, 3, 4, 5, 6]])
  d = sampling.stratified_depths(jnp.full((1, 5), 0.999), 1.0, 3.0)
  assert bool(jnp.all(jnp.diff(d) > 0)) and float(d[0, -1]) < 3.5
  disp = sampling.stratified_depths(jnp.zeros((1, 3)), 2.0, 4.0, True)
  np.testing.assert_allclose(1 / disp, [[0.5, 0.375, 0.25]], rtol=1e-6)


def test_inverse_cdf_closed_forms():
  bins = jnp.array([[0.0, 1.0, 2.0, 3.0]])
  u = jnp.linspace(0.0, 1.0, 7)[None]
  # Uniform weights: a linear map from [0, 1] onto the bins.
  np.testing.assert_allclose(
      sampling.inverse_cdf(bins, jnp.ones((1, 3)), u), 3 * u, atol=1e-4)
  # All mass in the middle bin (up to the 1e-5 floor): samples land there.
  got = sampling.inverse_cdf(bins, jnp.array([[0.0, 1.0, 0.0]]),
                             jnp.array([[0.1, 0.5, 0.9]]))
  np.testing.assert_allclose(got, [[1.1, 1.5, 1.9]], atol=1e-3)


def test_importance_never_uses_the_last_interval_and_keeps_u_order():
  z = jnp.linspace(2.0, 4.0, 10)[None]
  w = jnp.zeros((1, 9)).at[0, -1].set(1.0)  # All weight in the last interval.
  u = jax.random.uniform(jax.random.key(0), (1, 200))
  depths = sampling.importance_depths(z, w, u)
  mids = 0.5 * (z[0, 1:] + z[0, :-1])
  assert float(depths.max()) <= float(mids[-2]) + 1e-6
  order = np.argsort(np.asarray(u[0]))
  assert np.all(np.diff(np.asarray(depths[0])[order]) >= -1e-6)


def test_sorted_uniforms_are_sorted_and_uniform_in_distribution():
  u = sampling.sorted_uniforms(jax.random.key(0), (4000, 8))
  assert bool(jnp.all(jnp.diff(u, axis=-1) >= 0))
  assert float(u.min()) >= 0 and float(u.max()) <= 1
  # The k-th of n sorted uniforms has mean (k + 1) / (n + 1); the standard
  # error here is below 0.005, and the tolerance is 6 of them.
  np.testing.assert_allclose(u.mean(0), np.arange(1, 9) / 9, atol=0.03)
