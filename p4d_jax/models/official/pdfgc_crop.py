"""PD-FGC's input crop, as the official inference makes it
(`estimate_norm_pdfgc` + kornia's `warp_affine` + crop + resize + clamp):

  1. a least-squares similarity maps three points of the frame's 68
     landmarks (pixels, y down) -- the means of the left eye [36:42], the
     right eye [42:48] and the INNER mouth [60:68] -- to (87, 59), (137, 59),
     (112, 120) of a 224 x 224 crop;
  2. the frame is warped by it (bilinear, pixel centres at integers,
     outside pixels zero);
  3. rows 0:192 and columns 16:208 are kept, resized back to 224 x 224
     (bilinear, half-pixel centres) and clamped to [-1, 1].

`similarity` works on numpy (float64, as the official code) and jnp arrays.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

SIZE = 224
# float32, as the official code declares it: its mean (79.333336 in y) and
# offsets are float32 numbers even where the landmarks are float64.
TEMPLATE = np.array([[87.0, 59.0], [137.0, 59.0], [112.0, 120.0]], np.float32)
GROUPS = ((36, 42), (42, 48), (60, 68))   # left eye, right eye, inner mouth
ROWS, COLS = (0, 192), (16, 208)


def _xp(array):
  return jnp if isinstance(array, jax.Array) else np


def three_points(landmarks):
  """[..., 68, 2] -> [..., 3, 2]: the eye and inner-mouth centres."""
  return _xp(landmarks).stack(
      [landmarks[..., a:b, :].mean(-2) for a, b in GROUPS], -2)


def similarity(src, dst=TEMPLATE):
  """The least-squares similarity (rotation, uniform scale, translation)
  taking points src [..., N, 2] to dst [N, 2], as [..., 2, 3] (Umeyama's,
  skimage's `SimilarityTransform.estimate`, in closed form for 2D)."""
  src_mean, dst_mean = src.mean(-2, keepdims=True), dst.mean(-2)
  s, d = src - src_mean, dst - dst_mean
  norm = (s * s).sum((-2, -1))
  a = (s[..., 0] * d[..., 0] + s[..., 1] * d[..., 1]).sum(-1) / norm
  b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(-1) / norm
  mx, my = src_mean[..., 0, 0], src_mean[..., 0, 1]
  tx = dst_mean[0] - (a * mx - b * my)
  ty = dst_mean[1] - (b * mx + a * my)
  rows = [[a, -b, tx], [b, a, ty]]
  xp = _xp(src)
  return xp.stack([xp.stack(r, -1) for r in rows], -2)


def warp_affine(images: jax.Array, matrix: jax.Array,
                size: int = SIZE) -> jax.Array:
  """images [B, H, W, C], matrix [B, 2, 3] (frame pixels -> output pixels)
  -> [B, size, size, C]: out[y, x] = bilinear(image, matrix^-1 (x, y, 1)),
  with neighbours outside the image contributing zero."""
  b, h, w, c = images.shape
  full = jnp.concatenate(
      [matrix, jnp.broadcast_to(jnp.array([[[0.0, 0.0, 1.0]]]), (b, 1, 3))],
      axis=1)
  inverse = jnp.linalg.inv(full)[:, :2]                       # [B, 2, 3]
  ys, xs = jnp.meshgrid(jnp.arange(size, dtype=images.dtype),
                        jnp.arange(size, dtype=images.dtype), indexing="ij")
  points = jnp.stack([xs, ys, jnp.ones_like(xs)], -1).reshape(-1, 3)
  src = jnp.einsum("bij,pj->bpi", inverse, points)           # [B, P, 2]
  x0, y0 = jnp.floor(src[..., 0]), jnp.floor(src[..., 1])
  fx, fy = src[..., 0] - x0, src[..., 1] - y0
  flat = images.reshape(b, h * w, c)
  out = 0.0
  for dy, wy in ((0, 1.0 - fy), (1, fy)):
    for dx, wx in ((0, 1.0 - fx), (1, fx)):
      x, y = (x0 + dx).astype(jnp.int32), (y0 + dy).astype(jnp.int32)
      inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
      index = jnp.clip(y, 0, h - 1) * w + jnp.clip(x, 0, w - 1)
      taps = jnp.take_along_axis(flat, index[..., None], axis=1)
      out = out + taps * jnp.where(inside, wx * wy, 0.0)[..., None]
  return out.reshape(b, size, size, c)


def crop(images: jax.Array, points: jax.Array) -> jax.Array:
  """Frames [B, S, S, 3] in [-1, 1] and their three points [B, 3, 2]
  (`three_points` of the 68 landmarks; pixels of the frame, y down) ->
  PD-FGC's input [B, 224, 224, 3]."""
  matrix = similarity(points).astype(images.dtype)
  return crop_warped(warp_affine(images, matrix))


def crop_warped(warped: jax.Array) -> jax.Array:
  """The warped frames [B, 224, 224, 3] -> the kept window, resized back
  to 224 and clamped."""
  window = warped[:, ROWS[0]:ROWS[1], COLS[0]:COLS[1]]
  resized = jax.image.resize(window, (window.shape[0], SIZE, SIZE,
                                      window.shape[-1]), "linear",
                             antialias=False)
  return jnp.clip(resized, -1.0, 1.0)
