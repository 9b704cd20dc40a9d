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


def _lookup_case(dtype, n=40, b=2, h=5, w=6, c=3):
  """A two-scene table and grids [n, 3, 2] reaching past the plane edges."""
  keys = jax.random.split(jax.random.key(7), 3)
  table = triplane.flatten_planes(
      jax.random.normal(keys[0], (b, 3, h, w, c), dtype))
  grids = jax.random.uniform(keys[1], (n, 3, 2), dtype, -1.3, 1.3)
  start = jax.random.randint(keys[2], (n,), 0, b) * (3 * h * w)
  return table, start, grids, h, w


@pytest.mark.parametrize("aggregation", ["mean", "sum"])
def test_lookup_vjp_matches_autodiff_of_the_plain_lookup(aggregation):
  table, start, grids, h, w = _lookup_case(jnp.float32)
  scale = 1.0 / 3 if aggregation == "mean" else 1.0
  cot = jax.random.normal(jax.random.key(8), (grids.shape[0], table.shape[1]))

  def loss(fn):
    return lambda t, g: jnp.vdot(fn(t, g), cot)

  custom = loss(lambda t, g: triplane.lookup_triplane(t, start, g, h, w,
                                                      aggregation))
  plain_lookup = triplane._lookup_plain  # pylint: disable=protected-access
  plain = loss(lambda t, g: plain_lookup(t, start, g, h, w, scale))
  np.testing.assert_allclose(custom(table, grids), plain(table, grids),
                             rtol=1e-6)
  got = jax.jit(jax.grad(custom, (0, 1)))(table, grids)
  want = jax.jit(jax.grad(plain, (0, 1)))(table, grids)
  for a, b in zip(got, want):
    assert float(jnp.abs(b).max()) > 0
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_lookup_vjp_matches_finite_differences():
  jax.config.update("jax_enable_x64", True)
  try:
    table, start, grids, h, w = _lookup_case(jnp.float64)
    cot = jax.random.normal(jax.random.key(9), (grids.shape[0],
                                                table.shape[1]), jnp.float64)

    def loss(t, g):
      return jnp.vdot(triplane.lookup_triplane(t, start, g, h, w), cot)

    g_table, g_grids = jax.grad(loss, (0, 1))(table, grids)
    rng = np.random.default_rng(1)
    eps = 1e-6
    for _ in range(4):
      d_t = jnp.asarray(rng.standard_normal(table.shape))
      d_g = jnp.asarray(rng.standard_normal(grids.shape))
      fd = (loss(table + eps * d_t, grids + eps * d_g) -
            loss(table - eps * d_t, grids - eps * d_g)) / (2 * eps)
      np.testing.assert_allclose(
          jnp.vdot(g_table, d_t) + jnp.vdot(g_grids, d_g), fd, rtol=1e-6)
  finally:
    jax.config.update("jax_enable_x64", False)


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

