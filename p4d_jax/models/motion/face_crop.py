"""The expression crop: eyes, brows and mouth of a frame, aligned by its
head-relative camera (the analogue of PD-FGC's landmark-based alignment).

Three anchors fixed in the head frame (the average head's eye centres and
mouth) are projected through the frame's camera label; a similarity warp
(centre, scale and in-plane angle from the projected anchors) resamples the
face region onto a `crop` x `crop` grid, so a pixel of the crop shows the
same part of the face whatever the head pose, camera distance or image
size. Frames are first resized (antialiased) to `frame` x `frame`, so a
512^2 photo and a 64^2 render of one face give the same crop.

    crops = face_crop.crop(images, labels, frame=64, crop=32)
    # images [B, S, S, 3], labels [B, 25] -> [B, 32, 32, 3]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from p4d_jax.rendering import cameras

# Head-frame anchors (SynthHeads' average head, which is Portrait4D's
# canonical frame): left eye, right eye, mouth centre.
ANCHORS = ((0.085, -0.005, 0.205), (-0.085, -0.005, 0.205),
           (0.0, -0.25, 0.22))
# The crop's half side, in units of the eyes-to-mouth distance, and where
# its centre sits on the eyes -> mouth line (0 = eyes, 1 = mouth): enough
# to hold the brows above and the dropped chin below.
HALF_SIDE = 1.0
CENTER_AT = 0.5


def anchor_pixels(labels: jax.Array) -> jax.Array:
  """Camera labels [B, 25] -> the anchors' image positions [B, 3, 2] in
  [0, 1] (x along columns, y along rows)."""
  c2w, intrinsics = cameras.unpack_label(labels)
  uv, _ = cameras.project_points(jnp.asarray(ANCHORS, jnp.float32), c2w,
                                 intrinsics)
  return uv


def _eyes_to_mouth(uv: jax.Array) -> tuple[jax.Array, jax.Array,
                                             jax.Array]:
  """Anchor positions [B, 3, 2] -> the eyes' midpoint [B, 2], the vector
  from it to the mouth [B, 2] and its length [B]."""
  eyes = (uv[:, 0] + uv[:, 1]) / 2
  down = uv[:, 2] - eyes
  return eyes, down, jnp.linalg.norm(down, axis=-1)


def crop_frames(labels: jax.Array) -> tuple[jax.Array, jax.Array,
                                              jax.Array]:
  """Labels [B, 25] -> the crop's centre [B, 2], its 'down' unit axis
  [B, 2] (eyes -> mouth, image coordinates) and half side [B] (all in
  [0, 1] image units)."""
  uv = anchor_pixels(labels)
  eyes, down, length = _eyes_to_mouth(uv)
  center = eyes + CENTER_AT * down
  return center, down / jnp.maximum(length, 1e-6)[:, None], HALF_SIDE * length


# The expression regions' disks around the projected anchors, in units of
# the eyes-to-mouth distance: eyes with lids and brows; lips, cheeks and the
# dropped chin (SynthHeads' region balls, `data/synthheads/regions.py`, seen
# from the front, are about this size).
EYE_RADIUS = 0.32
MOUTH_RADIUS = 0.6


def expression_regions(labels: jax.Array, size: int) -> jax.Array:
  """Camera labels [B, 25] -> [B, size, size] float 0/1: the pixels where
  an expression shows (disks about the projected eyes and mouth anchors,
  scaled by the projected eyes-to-mouth distance)."""
  uv = anchor_pixels(labels)                               # [B, 3, 2]
  _, _, length = _eyes_to_mouth(uv)
  radius = length[:, None] * jnp.asarray([EYE_RADIUS, EYE_RADIUS,
                                          MOUTH_RADIUS], jnp.float32)
  t = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size
  dx = t[None, None, None, :] - uv[:, :, None, None, 0]   # [B, 3, 1, size]
  dy = t[None, None, :, None] - uv[:, :, None, None, 1]   # [B, 3, size, 1]
  inside = dx**2 + dy**2 <= radius[:, :, None, None]**2
  return jnp.any(inside, axis=1).astype(jnp.float32)


def _bilinear(image: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
  """image [H, W, C] at pixel-centre coordinates x, y [...] -> [..., C]
  (edge pixels repeat outside)."""
  h, w = image.shape[:2]
  x = jnp.clip(x, 0.0, w - 1.0)
  y = jnp.clip(y, 0.0, h - 1.0)
  x0 = jnp.clip(jnp.floor(x), 0, w - 2).astype(jnp.int32)
  y0 = jnp.clip(jnp.floor(y), 0, h - 2).astype(jnp.int32)
  fx, fy = (x - x0)[..., None], (y - y0)[..., None]
  top = image[y0, x0] * (1 - fx) + image[y0, x0 + 1] * fx
  bottom = image[y0 + 1, x0] * (1 - fx) + image[y0 + 1, x0 + 1] * fx
  return top * (1 - fy) + bottom * fy


def crop(images: jax.Array, labels: jax.Array, frame: int = 64,
         size: int = 32, jitter: jax.Array | None = None) -> jax.Array:
  """Frames [B, S, S, 3] and their head-relative camera labels [B, 25] ->
  aligned expression crops [B, size, size, 3].

  jitter [B, 4] (optional; training augmentation): shifts of the centre
  (x, y) in half sides, a log-scale and a rotation in radians.
  """
  b = images.shape[0]
  if images.shape[1] != frame or images.shape[2] != frame:
    images = jax.image.resize(images, (b, frame, frame, images.shape[-1]),
                              "linear", antialias=True)
  center, down, half = crop_frames(labels)
  if jitter is not None:
    center = center + jitter[:, :2] * half[:, None]
    half = half * jnp.exp(jitter[:, 2])
    cos, sin = jnp.cos(jitter[:, 3]), jnp.sin(jitter[:, 3])
    down = jnp.stack([cos * down[:, 0] - sin * down[:, 1],
                      sin * down[:, 0] + cos * down[:, 1]], -1)
  right = jnp.stack([down[:, 1], -down[:, 0]], -1)   # image +x when upright
  t = (jnp.arange(size, dtype=jnp.float32) + 0.5) / size * 2 - 1
  u, v = jnp.meshgrid(t, t, indexing="xy")              # [size, size]
  points = (center[:, None, None] +
            half[:, None, None, None] * (u[None, ..., None] *
                                         right[:, None, None] +
                                         v[None, ..., None] *
                                         down[:, None, None]))
  pix = points * frame - 0.5                            # pixel centres
  return jax.vmap(_bilinear)(images, pix[..., 0], pix[..., 1])
