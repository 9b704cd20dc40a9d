"""Per-image quality metrics as pure jnp functions (one value per image).

Images are in [0, 1] with channels last, [B, H, W, C]; masks in [0, 1],
[B, H, W]. SSIM is Wang et al. 2004 with an 11x11 Gaussian window (sigma
1.5), K1 = 0.01, K2 = 0.03, 'valid' filtering, averaged over channels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def psnr(pred: jax.Array, target: jax.Array, peak: float = 1.0) -> jax.Array:
  """[B, H, W, C] x2 -> [B] dB."""
  mse = jnp.mean(jnp.square(pred - target), axis=(1, 2, 3))
  return 10.0 * jnp.log10(peak**2 / jnp.maximum(mse, 1e-12))


def masked_psnr(pred: jax.Array, target: jax.Array, mask: jax.Array,
                peak: float = 1.0) -> jax.Array:
  """PSNR over the pixels of `mask` [B, H, W] (weights): [B, H, W, C] -> [B]."""
  err = jnp.mean(jnp.square(pred - target), axis=-1)
  mse = jnp.sum(err * mask, axis=(1, 2)) / jnp.maximum(
      jnp.sum(mask, axis=(1, 2)), 1e-12)
  return 10.0 * jnp.log10(peak**2 / jnp.maximum(mse, 1e-12))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> jax.Array:
  x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
  g = jnp.exp(-0.5 * jnp.square(x / sigma))
  return g / jnp.sum(g)


def _blur(x: jax.Array, window: jax.Array) -> jax.Array:
  """Separable 'valid' filtering of [B, H, W, C] per channel."""
  c = x.shape[-1]
  size = window.shape[0]
  rows = jnp.tile(window.reshape(size, 1, 1, 1), (1, 1, 1, c))
  cols = jnp.tile(window.reshape(1, size, 1, 1), (1, 1, 1, c))
  dims = ("NHWC", "HWIO", "NHWC")
  x = jax.lax.conv_general_dilated(x, rows, (1, 1), "VALID",
                                   dimension_numbers=dims,
                                   feature_group_count=c)
  return jax.lax.conv_general_dilated(x, cols, (1, 1), "VALID",
                                      dimension_numbers=dims,
                                      feature_group_count=c)


def ssim(pred: jax.Array, target: jax.Array, peak: float = 1.0) -> jax.Array:
  """[B, H, W, C] x2 (H, W >= 11) -> [B] mean SSIM."""
  window = _gaussian_window()
  c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
  mu_x, mu_y = _blur(pred, window), _blur(target, window)
  var_x = _blur(pred * pred, window) - mu_x**2
  var_y = _blur(target * target, window) - mu_y**2
  cov = _blur(pred * target, window) - mu_x * mu_y
  ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
      (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
  return jnp.mean(ssim_map, axis=(1, 2, 3))


def mask_iou(pred: jax.Array, target: jax.Array,
             threshold: float = 0.5) -> jax.Array:
  """Masks [B, H, W] thresholded -> [B] intersection over union (1 when
  both are empty)."""
  p, t = pred > threshold, target > threshold
  inter = jnp.sum(p & t, axis=(1, 2))
  union = jnp.sum(p | t, axis=(1, 2))
  return jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0)


def mean_over(values: jax.Array, pixels: jax.Array) -> jax.Array:
  """Mean of `values` over the `pixels` (0/1 or weights), [B, H, W] -> [B]
  (0 where there are none)."""
  pixels = pixels.astype(values.dtype)
  return (jnp.sum(values * pixels, axis=(1, 2)) /
          jnp.maximum(jnp.sum(pixels, axis=(1, 2)), 1.0))


def depth_error(pred: jax.Array, target: jax.Array,
                valid: jax.Array) -> jax.Array:
  """Mean |pred - target| over `valid` pixels, [B, H, W] -> [B]."""
  return mean_over(jnp.abs(pred - target), valid)


def area_downsample(x: jax.Array, factor: int) -> jax.Array:
  """Mean over factor x factor blocks: [B, H, W, ...] -> [B, H/f, W/f, ...]."""
  if factor == 1:
    return x
  b, h, w = x.shape[:3]
  if h % factor or w % factor:
    raise ValueError(f"Image {h}x{w} does not divide by {factor}.")
  x = x.reshape(b, h // factor, factor, w // factor, factor, *x.shape[3:])
  return jnp.mean(x, axis=(2, 4))
