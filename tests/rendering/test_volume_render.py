"""Volume rendering: closed forms, invariances, gradients, chunking, jit, vmap."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.models import field_mlp
from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays
from p4d_jax.rendering import render
from p4d_jax.rendering import render_config
from p4d_jax.rendering import volume


def inverse_activation(density):
  """Raw sigma whose activation softplus(sigma - 1) equals `density`."""
  return 1.0 + np.log(np.expm1(density))


def constant_field(density, color=(0.2, 0.5, 0.8)):
  raw = inverse_activation(density)

  def field_fn(points, scene):
    del scene
    shape = points.shape[:-1]
    return (jnp.broadcast_to(jnp.asarray(color), (*shape, 3)),
            jnp.full(shape, raw))
  return field_fn


def sphere_field(radius, density=500.0, color=(0.9, 0.3, 0.1)):
  inside, outside = inverse_activation(density), -30.0

  def field_fn(points, scene):
    del scene
    r = jnp.linalg.norm(points, axis=-1)
    sigma = jnp.where(r < radius, inside, outside)
    return jnp.broadcast_to(jnp.asarray(color), (*r.shape, 3)), sigma
  return field_fn


def frontal_rays(b=1, res=16, focal=2.0, dist=4.0):
  c2w = cameras.look_at_pose(jnp.full((b,), np.pi / 2), np.pi / 2, dist)
  return rays.generate_rays(c2w, cameras.focal_intrinsics(
      jnp.full((b,), focal)), res, res)


def test_constant_density_alpha_is_one_minus_exp():
  """A constant density sigma over the sampled span L gives 1 - exp(-sigma L)."""
  origins, dirs = frontal_rays(b=2, res=4)
  cfg = render_config.RenderConfig(num_coarse=24, num_fine=24,
                                   ray_range=(3.0, 5.0), jitter="per_ray")
  for density in (0.05, 0.7, 3.0):
    out = render.render_rays(constant_field(density), origins, dirs,
                             jnp.full((2,), 3.0), jnp.full((2,), 5.0), cfg,
                             key=jax.random.key(0), return_intermediates=True)
    depths = out["all_depths"]
    span = depths[..., -1] - depths[..., 0]
    np.testing.assert_allclose(out["weights_sum"], 1 - np.exp(-density * span),
                               rtol=1e-5, atol=1e-6)
    # Colour: the constant colour times the opacity; weights sum <= 1.
    np.testing.assert_allclose(out["features"],
                               out["weights_sum"][..., None] *
                               jnp.array([0.2, 0.5, 0.8]), atol=1e-6)
    assert bool(jnp.all(out["weights"].sum(-1) <= 1.0 + 1e-6))
    assert bool(jnp.all(out["weights"] >= 0))


def test_thin_slab_alpha_within_one_sample_spacing():
  """A slab of thickness T across the rays: alpha = 1 - exp(-sigma T) up to
  the one-interval blur of the mid-point rule at each face."""
  density, lo, hi = 2.0, -0.3, 0.2
  raw_in, raw_out = inverse_activation(density), -40.0

  def slab(points, scene):
    del scene
    inside = (points[..., 2] > lo) & (points[..., 2] < hi)
    return jnp.zeros((*points.shape[:-1], 3)), jnp.where(inside, raw_in,
                                                           raw_out)
  origins, dirs = frontal_rays(res=1)
  cfg = render_config.RenderConfig(num_coarse=400, num_fine=0,
                                   ray_range=(3.0, 5.0))
  out = render.render_rays(slab, origins, dirs, jnp.array([3.0]),
                           jnp.array([5.0]), cfg, jitter=jnp.zeros((1, 1, 400)))
  step = 2.0 / 399
  expected = 1 - np.exp(-density * (hi - lo))
  lower = 1 - np.exp(-density * (hi - lo - 2 * step))
  upper = 1 - np.exp(-density * (hi - lo + 2 * step))
  assert lower <= float(out["weights_sum"][0, 0]) <= upper
  np.testing.assert_allclose(out["weights_sum"][0, 0], expected, atol=0.01)


def test_opaque_sphere_depth_and_silhouette():
  radius, dist, res, focal = 0.5, 4.0, 24, 2.0
  origins, dirs = frontal_rays(res=res, focal=focal, dist=dist)
  cfg = render_config.RenderConfig(num_coarse=64, num_fine=64,
                                   ray_range=(3.0, 5.0), jitter="per_ray")
  out = render.render_rays(sphere_field(radius), origins, dirs,
                           jnp.array([3.0]), jnp.array([5.0]), cfg,
                           key=jax.random.key(1))
  o, d = np.asarray(origins[0]), np.asarray(dirs[0])
  # Analytic ray-sphere intersection.
  b = np.sum(o * d, -1)
  disc = b**2 - (np.sum(o * o, -1) - radius**2)
  hit = disc > 0
  t_hit = -b - np.sqrt(np.maximum(disc, 0))
  # Rays clearly inside / outside the silhouette (a margin of one pixel).
  margin = np.sqrt(np.maximum(disc, 0))
  inside = hit & (margin > 0.05)
  outside = ~hit | (disc < -0.05)
  alpha = np.asarray(out["weights_sum"][0])
  assert inside.sum() > 50 and outside.sum() > 50
  np.testing.assert_array_less(0.999, alpha[inside])
  np.testing.assert_array_less(alpha[outside], 1e-3)
  spacing = 2.0 / 63
  depth = np.asarray(out["depth"][0])
  assert np.max(np.abs(depth[inside] - t_hit[inside])) < spacing
  # Empty rays read as the far end of the sampled range.
  np.testing.assert_allclose(depth[outside & ~hit].min(),
                             np.asarray(out["depth"]).max())


def test_background_fills_residual_transmittance():
  origins, dirs = frontal_rays(res=8)
  cfg = render_config.RenderConfig(num_coarse=32, num_fine=16,
                                   ray_range=(3.0, 5.0))
  bg = jnp.broadcast_to(jnp.array([0.0, 1.0, 0.0]), (1, 64, 3))
  kw = dict(key=jax.random.key(2))
  plain = render.render_rays(sphere_field(0.5), origins, dirs, jnp.array([3.]),
                             jnp.array([5.]), cfg, **kw)
  with_bg = render.render_rays(sphere_field(0.5), origins, dirs,
                               jnp.array([3.]), jnp.array([5.]), cfg,
                               background=bg, **kw)
  np.testing.assert_allclose(
      with_bg["features"],
      plain["features"] + plain["background_transmittance"][..., None] * bg,
      atol=1e-6)


def _tiny_scene(b=2, res=6, plane_res=8, channels=4, seed=0):
  key = jax.random.key(seed)
  planes = jax.random.normal(key, (b, 3, plane_res, plane_res, channels))
  dec = field_mlp.FieldDecoder(channels, 16, 3, zero_init_sigma=False,
                               rngs=nnx.Rngs(seed))
  c2w = cameras.look_at_pose(jnp.linspace(1.3, 1.8, b), 1.5, 4.0,
                             (0.0, 0.0, 0.05), jnp.linspace(-0.1, 0.1, b))
  intr = cameras.focal_intrinsics(jnp.full((b,), cameras.P4D_FOCAL))
  return planes, dec, c2w, intr, res


def _render(planes, params, graphdef, c2w, intr, res, cfg, key):
  dec = nnx.merge(graphdef, params)
  return render.render_image(planes, dec, c2w, intr, res, res, cfg, key=key)


def test_chunked_equals_unchunked_including_gradients():
  planes, dec, c2w, intr, res = _tiny_scene()
  graphdef, params = nnx.split(dec)
  base = render_config.RenderConfig(num_coarse=12, num_fine=12)
  key = jax.random.key(3)

  def loss(planes, params, cfg):
    out = _render(planes, params, graphdef, c2w, intr, res, cfg, key)
    return jnp.sum(out["features"] ** 2) + jnp.sum(out["depth"])

  ref = jax.jit(jax.value_and_grad(lambda p, q: loss(p, q, base), (0, 1)))(
      planes, params)
  for cfg in (dataclasses.replace(base, chunk_rays=7),
              dataclasses.replace(base, chunk_rays=16, remat=True)):
    got = jax.jit(jax.value_and_grad(lambda p, q, c=cfg: loss(p, q, c),
                                     (0, 1)))(planes, params)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5,
                                                         atol=1e-6), got, ref)


@pytest.mark.slow   # ~35 s: the eager path dispatches op by op
def test_jit_equals_eager_and_vmap_over_batch():
  planes, dec, c2w, intr, res = _tiny_scene(b=3)
  graphdef, params = nnx.split(dec)
  cfg = render_config.RenderConfig(num_coarse=12, num_fine=8)
  key = jax.random.key(4)
  eager = _render(planes, params, graphdef, c2w, intr, res, cfg, key)
  jitted = jax.jit(_render, static_argnums=(2, 5, 6))(
      planes, params, graphdef, c2w, intr, res, cfg, key)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                       atol=1e-6), eager, jitted)

  # vmap over single-scene renders gives the batched render, given the same
  # per-camera uniforms.
  jitter = jax.random.uniform(key, (3, 1, 12))
  fine = jax.random.uniform(jax.random.key(5), (3, res * res, 8))
  origins, dirs = rays.generate_rays(c2w, intr, res, res)
  near, far = render.ray_bounds(cfg, c2w, 3)
  dec = nnx.merge(graphdef, params)

  def one(planes1, o, d, n, f, j, u):
    field = render.triplane_field(planes1[None], dec, cfg)
    out = render.render_rays(field, o[None], d[None], n[None], f[None], cfg,
                             jitter=j[None], fine_uniforms=u[None])
    return jax.tree.map(lambda x: x[0], out)

  per_scene = jax.vmap(one)(planes, origins, dirs, near, far, jitter, fine)
  batched = render.render_rays(render.triplane_field(planes, dec, cfg),
                               origins, dirs, near, far, cfg, jitter=jitter,
                               fine_uniforms=fine)
  # Depth is left out: its clamp uses the batch-wide sample range (as the
  # references do), which a single-scene render cannot see.
  for k in ("features", "weights_sum"):
    np.testing.assert_allclose(per_scene[k], batched[k], rtol=1e-5, atol=1e-6)


def test_gradients_are_finite_and_match_finite_differences():
  """Single-pass render in float64. (With a fine pass the importance depths
  move with the parameters but carry no gradient, by design, so a finite
  difference would include a term the gradient deliberately leaves out.)"""
  jax.config.update("jax_enable_x64", True)
  try:
    planes, dec, c2w, intr, res = _tiny_scene(b=1, res=3, plane_res=4,
                                              channels=2)
    graphdef, params = nnx.split(dec)
    planes = planes.astype(jnp.float64)
    params = jax.tree.map(lambda x: x.astype(jnp.float64), params)
    cfg = render_config.RenderConfig(num_coarse=16, num_fine=0)
    key = jax.random.key(6)

    def loss(planes, params):
      out = _render(planes, params, graphdef, c2w.astype(jnp.float64),
                    intr.astype(jnp.float64), res, cfg, key)
      return (jnp.sum(out["features"] ** 2) + 0.1 * jnp.sum(out["depth"]) +
              jnp.sum(out["weights_sum"]))

    loss = jax.jit(loss)   # one compile for the 16 evaluations below
    g_planes, g_params = jax.grad(loss, (0, 1))(planes, params)
    for g in jax.tree.leaves((g_planes, g_params)):
      assert bool(jnp.all(jnp.isfinite(g)))
    assert float(jnp.abs(g_planes).max()) > 0
    rng = np.random.default_rng(0)
    eps = 1e-6
    for _ in range(6):
      direction = jnp.asarray(rng.standard_normal(planes.shape))
      fd = (loss(planes + eps * direction, params) -
            loss(planes - eps * direction, params)) / (2 * eps)
      np.testing.assert_allclose(jnp.vdot(g_planes, direction), fd, rtol=1e-5,
                                 atol=1e-8)
    leaf = params["hidden"]["kernel"][...]
    direction = jnp.asarray(rng.standard_normal(leaf.shape))

    def with_kernel(k):
      p = jax.tree.map(lambda x: x, params)
      p["hidden"]["kernel"] = p["hidden"]["kernel"].replace(k)
      return loss(planes, p)

    fd = (with_kernel(leaf + eps * direction) -
          with_kernel(leaf - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(
        jnp.vdot(g_params["hidden"]["kernel"][...], direction), fd, rtol=1e-5,
        atol=1e-8)
  finally:
    jax.config.update("jax_enable_x64", False)


def test_merge_ranks_is_a_stable_argsort():
  rng = np.random.default_rng(2)
  # Rounded values: many ties, which must keep their index order.
  depths = np.round(rng.uniform(2.0, 3.0, (64, 30)), 1).astype(np.float32)
  rank, order = jax.jit(render.merge_ranks)(jnp.asarray(depths))
  want = np.argsort(depths, axis=1, kind="stable")
  np.testing.assert_array_equal(order, want)
  np.testing.assert_array_equal(np.take_along_axis(np.asarray(rank), want, 1),
                                np.broadcast_to(np.arange(30), (64, 30)))


def test_per_camera_jitter_is_shared_by_rays():
  origins, dirs = frontal_rays(b=2, res=4)
  cfg = render_config.RenderConfig(num_coarse=8, num_fine=0,
                                   ray_range=(3.0, 5.0))
  out = render.render_rays(constant_field(0.5), origins, dirs,
                           jnp.full((2,), 3.0), jnp.full((2,), 5.0), cfg,
                           key=jax.random.key(7), return_intermediates=True)
  depths = out["coarse_depths"]
  np.testing.assert_array_equal(depths, jnp.broadcast_to(depths[:, :1],
                                                         depths.shape))
  assert not np.allclose(depths[0], depths[1])


def test_same_key_same_image_and_config_errors():
  planes, dec, c2w, intr, res = _tiny_scene()
  cfg = render_config.RenderConfig(num_coarse=8, num_fine=8)
  a = render.render_image(planes, dec, c2w, intr, res, res, cfg,
                          key=jax.random.key(8))
  b = render.render_image(planes, dec, c2w, intr, res, res, cfg,
                          key=jax.random.key(8))
  np.testing.assert_array_equal(a["features"], b["features"])
  with pytest.raises(ValueError, match="PRNG"):
    render.render_rays(constant_field(1.0), *frontal_rays(), jnp.array([3.]),
                       jnp.array([5.]), cfg)
  with pytest.raises(ValueError, match="plane_axes"):
    render_config.RenderConfig(plane_axes="xyz")
  with pytest.raises(ValueError, match="render preset"):
    render_config.RenderConfig.preset("nerf")


def test_marcher_weights_match_a_python_loop():
  rng = np.random.default_rng(0)
  sigma = rng.normal(size=(5, 9)) * 3
  depths = np.sort(rng.uniform(2, 4, size=(5, 9)), -1)
  w = np.asarray(volume.midpoint_weights(jnp.asarray(sigma),
                                         jnp.asarray(depths)))
  for r in range(5):
    t = 1.0
    for i in range(8):
      mid = 0.5 * (sigma[r, i] + sigma[r, i + 1])
      alpha = 1 - np.exp(-np.log1p(np.exp(mid - 1)) *
                         (depths[r, i + 1] - depths[r, i]))
      np.testing.assert_allclose(w[r, i], alpha * t, rtol=1e-5, atol=1e-7)
      t *= 1 - alpha + 1e-10
