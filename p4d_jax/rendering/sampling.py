"""Depths along rays: stratified samples and importance (inverse-CDF) samples.

All randomness comes in as uniforms drawn by the caller (or by the helpers
here from an explicit key), so every function is deterministic.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from p4d_jax.rendering import cameras

# EG3D's importance sampler constants.
_SMOOTHING_FLOOR = 0.01
_PDF_EPS = 1e-5


def stratified_depths(jitter: jax.Array,
                      near: jax.Array,
                      far: jax.Array,
                      disparity: bool = False) -> jax.Array:
  """Depths [..., S] = linspace(near, far, S) + jitter * step.

  Args:
    jitter: [..., S] uniforms in [0, 1); zeros give the plain linspace.
      The jitter may push the last sample up to one step past `far`.
    near, far: broadcastable to jitter[..., 0].
    disparity: sample linearly in inverse depth instead (EG3D option).

  Returns:
    [..., S] depths, ascending along the last axis.
  """
  s = jitter.shape[-1]
  t = jnp.arange(s, dtype=jitter.dtype) / (s - 1)
  near = jnp.asarray(near, jitter.dtype)[..., None]
  far = jnp.asarray(far, jitter.dtype)[..., None]
  if disparity:
    t = t + jitter / (s - 1)
    return 1.0 / (1.0 / near * (1.0 - t) + 1.0 / far * t)
  return near + t * (far - near) + jitter * (far - near) / (s - 1)


def auto_plane_range(cam2world: jax.Array,
                     box_size: float,
                     box_warp_scale: jax.Array | float = 1.0
                     ) -> tuple[jax.Array, jax.Array]:
  """Portrait4D's 'auto-plane' range: |cam_z| -+ box_size * scale / 2.

  cam2world [B, 4, 4] -> near [B], far [B]; cam_z is the camera-space z of
  the world origin (the head box centre).
  """
  dist = jnp.abs(cameras.camera_z_of_world_origin(cam2world))
  half = box_size * jnp.asarray(box_warp_scale, dist.dtype) / 2.0
  return dist - half, dist + half


def smooth_weights(weights: jax.Array) -> jax.Array:
  """EG3D's weight smoothing before importance sampling.

  [..., S - 1] marcher weights -> [..., S - 3]: max-pool of width 2 with -inf
  padding on both sides (length S), average of neighbours (length S - 1),
  plus 0.01, then the first and last entry dropped.
  """
  neg = jnp.full(weights.shape[:-1] + (1,), -jnp.inf, weights.dtype)
  padded = jnp.concatenate([neg, weights, neg], axis=-1)
  pooled = jnp.maximum(padded[..., :-1], padded[..., 1:])
  averaged = 0.5 * (pooled[..., :-1] + pooled[..., 1:])
  return (averaged + _SMOOTHING_FLOOR)[..., 1:-1]


def inverse_cdf(bins: jax.Array, weights: jax.Array, u: jax.Array) -> jax.Array:
  """Samples of the piecewise-constant pdf given by `weights` on `bins`.

  Args:
    bins: [..., K + 1] ascending edges.
    weights: [..., K] non-negative (1e-5 is added before normalising).
    u: [..., N] uniforms in [0, 1]; the output keeps their order.

  Returns:
    [..., N] samples; bin i is chosen where cdf[i] <= u < cdf[i + 1].
  """
  k = weights.shape[-1]
  w = weights + _PDF_EPS
  pdf = w / jnp.sum(w, axis=-1, keepdims=True)
  cdf = jnp.concatenate(
      [jnp.zeros_like(pdf[..., :1]), jnp.cumsum(pdf, axis=-1)], axis=-1)
  # searchsorted(cdf, u, side='right') as a count: small K, no sort needed.
  count = jnp.sum(cdf[..., None, :] <= u[..., :, None], axis=-1)
  below = jnp.maximum(count - 1, 0)
  above = jnp.minimum(count, k)
  take = lambda a, i: jnp.take_along_axis(a, i, axis=-1)
  cdf_below, cdf_above = take(cdf, below), take(cdf, above)
  bin_below, bin_above = take(bins, below), take(bins, above)
  denom = cdf_above - cdf_below
  denom = jnp.where(denom < _PDF_EPS, 1.0, denom)
  return bin_below + (u - cdf_below) / denom * (bin_above - bin_below)


def importance_depths(depths: jax.Array, weights: jax.Array,
                      u: jax.Array) -> jax.Array:
  """EG3D's importance resampling of a ray's coarse samples (no gradient).

  Args:
    depths: [..., S] sorted coarse depths.
    weights: [..., S - 1] coarse marcher weights.
    u: [..., N] uniforms; the output keeps their order (sorted u -> sorted
      depths).

  Returns:
    [..., N] new depths. The bins are the S - 1 midpoints of `depths`, but the
    smoothed weights number S - 3, so only the first S - 2 edges are used: no
    sample lands in the last midpoint interval (as in the reference).
  """
  depths = jax.lax.stop_gradient(depths)
  weights = jax.lax.stop_gradient(weights)
  mids = 0.5 * (depths[..., 1:] + depths[..., :-1])
  smoothed = smooth_weights(weights)
  return inverse_cdf(mids[..., :smoothed.shape[-1] + 1], smoothed, u)

