"""Volume compositing: EG3D's mid-point ray marcher.

Over the S - 1 intervals between S sorted samples: raw density, colour and
depth are averaged between neighbours, the density activation
softplus(sigma_mid - 1) is applied AFTER averaging,
alpha_i = 1 - exp(-density_i * delta_i), T_i = prod_{j<i} (1 - alpha_j + 1e-10)
and w_i = alpha_i T_i. The background gets the residual 1 - sum(w).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_TRANSMITTANCE_EPS = 1e-10


def softplus(x: jax.Array) -> jax.Array:
  """log(1 + e^x) as max(x, 0) + log1p(e^-|x|): fewer ops than jax.nn.softplus."""
  return jnp.maximum(x, 0.0) + jnp.log1p(jnp.exp(-jnp.abs(x)))


def density_activation(sigma: jax.Array) -> jax.Array:
  """softplus(sigma - 1), the references' 'softplus' clamp mode."""
  return softplus(sigma - 1.0)


def midpoint_weights(sigma: jax.Array, depths: jax.Array) -> jax.Array:
  """Compositing weights [..., S - 1] of raw densities / depths [..., S]."""
  delta = depths[..., 1:] - depths[..., :-1]
  density = density_activation(0.5 * (sigma[..., 1:] + sigma[..., :-1]))
  alpha = 1.0 - jnp.exp(-density * delta)
  survive = 1.0 - alpha + _TRANSMITTANCE_EPS
  transmittance = jnp.cumprod(
      jnp.concatenate([jnp.ones_like(survive[..., :1]), survive[..., :-1]],
                      axis=-1),
      axis=-1)
  return alpha * transmittance


def sample_coefficients(weights: jax.Array) -> jax.Array:
  """Per-sample colour coefficients [..., S] of interval weights [..., S - 1].

  sum_i w_i (c_i + c_{i+1}) / 2 == sum_s coef_s c_s with
  coef_s = (w_{s-1} + w_s) / 2, so colours never need to be averaged or moved.
  """
  zero = jnp.zeros_like(weights[..., :1])
  return 0.5 * (jnp.concatenate([zero, weights], -1) +
                jnp.concatenate([weights, zero], -1))


def expected_depth(weights: jax.Array, depths: jax.Array,
                   depth_min: jax.Array, depth_max: jax.Array) -> jax.Array:
  """sum w z_mid / sum w, clamped to [depth_min, depth_max]. [..., S-1] -> [...].

  A ray with zero total weight gets `depth_max` (the reference's NaN -> inf
  -> clamp), with a zero gradient rather than NaN.
  """
  mids = 0.5 * (depths[..., 1:] + depths[..., :-1])
  total = jnp.sum(weights, axis=-1)
  num = jnp.sum(weights * mids, axis=-1)
  positive = total > 0
  depth = jnp.where(positive, num / jnp.where(positive, total, 1.0), jnp.inf)
  return jnp.clip(depth, depth_min, depth_max)


def composite(colors: jax.Array,
              sigma: jax.Array,
              depths: jax.Array,
              white_background: bool = False) -> dict[str, jax.Array]:
  """The mid-point ray marcher on sorted samples.

  Args:
    colors: [..., S, C] per-sample features.
    sigma: [..., S] raw densities (before the activation).
    depths: [..., S] ascending along S.
    white_background: add the residual 1 - sum(w) to every channel.

  Returns:
    dict with rgb [..., C] (no rescaling), depth [...] (clamped to the min/max
    of the WHOLE `depths` array, as the reference does), weights [..., S - 1],
    and background_transmittance [...] = 1 - sum(w).
  """
  weights = midpoint_weights(sigma, depths)
  coef = sample_coefficients(weights)
  rgb = jnp.einsum("...s,...sc->...c", coef, colors)
  residual = 1.0 - jnp.sum(weights, axis=-1)
  if white_background:
    rgb = rgb + residual[..., None]
  depth = expected_depth(weights, depths, jnp.min(depths), jnp.max(depths))
  return dict(rgb=rgb, depth=depth, weights=weights,
              background_transmittance=residual)
