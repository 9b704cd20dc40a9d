"""An analytic toy head as a density/colour field, and its tri-plane fit.

Until SynthHeads and a trained synthesizer exist, the demo shows the renderer
on this scene: a skin-coloured ellipsoid with hair, eyes, nose and mouth, in
Portrait4D's world frame (y up, face towards +z, head inside the 1.3 box).
`fit_triplane` regresses tri-planes and a `FieldDecoder` onto it from random
points (no rendering in the loop), which also exercises the lookup gradients.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from p4d_jax.models import field_mlp
from p4d_jax.rendering import triplane

# numpy: jnp constants would start JAX's backend at import.
SKIN = np.array([0.86, 0.67, 0.55], np.float32)
HAIR = np.array([0.25, 0.15, 0.08], np.float32)
EYE_WHITE = np.array([0.95, 0.95, 0.95], np.float32)
IRIS = np.array([0.15, 0.35, 0.6], np.float32)
LIPS = np.array([0.72, 0.25, 0.3], np.float32)


def _ellipsoid(p, center, radii):
  """Approximate signed distance to an ellipsoid (negative inside)."""
  q = (p - jnp.asarray(center)) / jnp.asarray(radii)
  return (jnp.linalg.norm(q, axis=-1) - 1.0) * jnp.min(jnp.asarray(radii))


def head_sdf_and_color(points: jax.Array) -> tuple[jax.Array, jax.Array]:
  """points [..., 3] -> (signed distance [...], rgb in [0, 1] [..., 3])."""
  p = points
  skull = _ellipsoid(p, (0.0, 0.04, 0.0), (0.26, 0.33, 0.29))
  nose = _ellipsoid(p, (0.0, -0.02, 0.29), (0.045, 0.08, 0.06))
  hair = _ellipsoid(p, (0.0, 0.11, -0.03), (0.285, 0.3, 0.3))
  hair = jnp.maximum(hair, -(p[..., 1] - 0.1 + 0.25 * jnp.maximum(p[..., 2],
                                                                 0.0)))
  eyes = jnp.minimum(_ellipsoid(p, (0.09, 0.08, 0.25), (0.045,) * 3),
                     _ellipsoid(p, (-0.09, 0.08, 0.25), (0.045,) * 3))
  mouth = _ellipsoid(p, (0.0, -0.14, 0.245), (0.08, 0.025, 0.04))
  sdf = jnp.minimum(jnp.minimum(skull, nose), jnp.minimum(hair, eyes))
  sdf = jnp.minimum(sdf, mouth)

  color = jnp.broadcast_to(SKIN, p.shape)
  pick = lambda d, c, col: jnp.where((d <= sdf + 1e-4)[..., None], c, col)
  color = pick(mouth, LIPS, color)
  color = pick(hair, HAIR, color)
  eye_dir = jnp.where(p[..., :1] > 0, 0.09, -0.09)
  iris = jnp.hypot(p[..., 0] - eye_dir[..., 0], p[..., 1] - 0.08) < 0.022
  eye_color = jnp.where((iris & (p[..., 2] > 0.275))[..., None], IRIS, EYE_WHITE)
  color = pick(eyes, eye_color, color)
  return sdf, color


def target_field(points: jax.Array, n_features: int):
  """Raw sigma [...] and features [..., n_features] the fit aims for."""
  sdf, rgb = head_sdf_and_color(points)
  raw_sigma = 30.0 * jnp.tanh(-sdf / 0.02)
  rest = jnp.full(points.shape[:-1] + (n_features - 3,), 0.5)
  return raw_sigma, jnp.concatenate([rgb, rest], axis=-1)


def fit_triplane(key: jax.Array,
                 plane_res: int = 96,
                 channels: int = 32,
                 box_warp: float = 1.3,
                 steps: int = 600,
                 points_per_step: int = 16384,
                 progress: Callable[[int, float], None] | None = None):
  """Fits planes [1, 3, R, R, C] and a FieldDecoder to the analytic head.

  Returns (planes, decoder). `progress(step, loss)` is called every 50 steps
  and after the last one (step counts from 1).
  """
  k_planes, k_dec, k_data = jax.random.split(key, 3)
  planes = 0.1 * jax.random.normal(k_planes,
                                   (1, 3, plane_res, plane_res, channels))
  decoder = field_mlp.FieldDecoder(channels, 64, channels,
                                   zero_init_sigma=False,
                                   rngs=nnx.Rngs(params=k_dec))
  graphdef, dec_params = nnx.split(decoder)
  params = dict(planes=planes, decoder=dec_params)
  optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, steps, 0.05))
  opt_state = optimizer.init(params)
  half = box_warp / 2

  def loss_fn(params, points):
    feats = triplane.sample_triplane(params["planes"], points[None], "p4d",
                                     box_warp)[0]
    out, sigma = nnx.merge(graphdef, params["decoder"])(feats)
    target_sigma, target_feats = target_field(points, channels)
    sigma_loss = jnp.mean(jnp.square((sigma - target_sigma) / 30.0))
    # Colour matters only where there is matter.
    near = (target_sigma > -25.0)[:, None]
    feat_loss = jnp.sum(near * jnp.abs(out - target_feats)) / (
        jnp.sum(near) * channels + 1.0)
    return sigma_loss + feat_loss

  @jax.jit
  def step(params, opt_state, key):
    k_uniform, k_surface, k_noise = jax.random.split(key, 3)
    uniform = jax.random.uniform(k_uniform, (points_per_step // 2, 3),
                                 minval=-half, maxval=half)
    # Half the points near the surface: on a shell around the skull.
    direction = jax.random.normal(k_surface, (points_per_step // 2, 3))
    direction = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
    shell = direction * jnp.array([0.28, 0.35, 0.31]) + jnp.array(
        [0.0, 0.04, 0.0])
    shell = shell + 0.04 * jax.random.normal(k_noise, shell.shape)
    points = jnp.concatenate([uniform, shell])
    loss, grads = jax.value_and_grad(loss_fn)(params, points)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  for i in range(steps):
    params, opt_state, loss = step(params, opt_state,
                                   jax.random.fold_in(k_data, i))
    if progress is not None and (i % 50 == 0 or i == steps - 1):
      progress(i + 1, float(loss))
  decoder = nnx.merge(graphdef, params["decoder"])
  return params["planes"], decoder
