"""Per-image camera corrections: what calibration optimises, the prior that
holds them near the input labels, and the camera error they are judged by.

A correction of image k is a rotation vector w_k [3] (radians) about the
head's origin, a translation t_k [3] (world units) and a log focal scale f
shared by all images. It acts on the head-relative cam2world C_k as

    C'_k = [R(w_k) | t_k] @ C_k,     focal' = focal * exp(f)

which is also how evaluation perturbs true labels (`perturb`), so a known
perturbation has an exact inverse within the correction's family. Labels
are the 25-float camera labels of `rendering.cameras`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax.rendering import cameras


def zeros(count: int) -> dict:
  """The identity correction of `count` images: rotation [K, 3],
  translation [K, 3], focal [] (log scale)."""
  return dict(rotation=jnp.zeros((count, 3)), translation=jnp.zeros(
      (count, 3)), focal=jnp.zeros(()))


def rotation_matrix(w: jax.Array) -> jax.Array:
  """Rotation vectors [..., 3] (axis * angle) -> matrices [..., 3, 3]
  (Rodrigues, smooth at 0)."""
  theta2 = jnp.sum(w * w, -1)[..., None, None]
  small = theta2 < 1e-8
  safe = jnp.where(small, 1.0, theta2)   # no 0/0 in either branch's gradient
  theta = jnp.sqrt(safe)
  a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
  b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / safe)
  zero = jnp.zeros_like(w[..., 0])
  k = jnp.stack([jnp.stack([zero, -w[..., 2], w[..., 1]], -1),
                 jnp.stack([w[..., 2], zero, -w[..., 0]], -1),
                 jnp.stack([-w[..., 1], w[..., 0], zero], -1)], -2)
  eye = jnp.eye(3, dtype=w.dtype)
  return eye + a * k + b * (k @ k)


def gauge_fixed(correction: dict, zero_mean: bool) -> dict:
  """With `zero_mean` (and more than one image) the mean rotation and
  translation over the images are removed: the corrections move the
  cameras relative to each other, never all of them together."""
  if not zero_mean or correction["rotation"].shape[0] < 2:
    return correction
  centre = lambda x: x - jnp.mean(x, 0, keepdims=True)   # noqa: E731
  return dict(correction, rotation=centre(correction["rotation"]),
              translation=centre(correction["translation"]))


def apply(labels: jax.Array, correction: dict) -> tuple[jax.Array,
                                                        jax.Array]:
  """Labels [K, 25] and a correction -> cam2world [K, 4, 4], intrinsics
  [K, 3, 3]."""
  c2w, intr = cameras.unpack_label(labels)
  rot = rotation_matrix(correction["rotation"])
  top = jnp.concatenate([rot, correction["translation"][..., None]], -1)
  bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0]),
                            (*rot.shape[:-2], 1, 4))
  c2w = jnp.concatenate([top, bottom], -2) @ c2w
  scale = jnp.exp(correction["focal"])
  intr = intr.at[..., 0, 0].multiply(scale).at[..., 1, 1].multiply(scale)
  return c2w, intr


def corrected_labels(labels: jax.Array, correction: dict) -> jax.Array:
  """`apply`, packed back into labels [K, 25]."""
  return cameras.pack_label(*apply(labels, correction))


def prior(correction: dict, labels: jax.Array, rotation_sigma: float,
          translation_sigma: float, focal_sigma: float) -> jax.Array:
  """Mean over images of the squared corrections in units of the expected
  label noise: rotation in `rotation_sigma` degrees, translation in
  `translation_sigma` of the camera's distance, focal in `focal_sigma`."""
  distance = jnp.linalg.norm(cameras.unpack_label(labels)[0][..., :3, 3], -1)
  rot = jnp.sum(jnp.square(correction["rotation"]), -1) / jnp.square(
      jnp.deg2rad(rotation_sigma))
  trans = jnp.sum(jnp.square(correction["translation"]), -1) / jnp.square(
      translation_sigma * distance)
  return jnp.mean(rot + trans) + jnp.square(correction["focal"] /
                                            focal_sigma)


def perturb(labels: np.ndarray, rng: np.random.Generator,
            rotation_deg: float, translation: float,
            focal: float) -> tuple[np.ndarray, dict]:
  """Labels [K, 25] with noise of fixed size: each camera turned about the
  head by `rotation_deg` about a random axis and moved by `translation` of
  its distance in a random direction; the focal scaled by 1 +- `focal`
  (one random sign for all). Returns the noisy labels and the correction
  that made them."""
  count = len(labels)
  axes = rng.normal(size=(count, 3))
  axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
  dirs = rng.normal(size=(count, 3))
  dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
  distance = np.linalg.norm(np.asarray(labels)[:, [3, 7, 11]], axis=-1)
  noise = dict(rotation=jnp.asarray(axes * np.deg2rad(rotation_deg),
                                    jnp.float32),
               translation=jnp.asarray(dirs * translation * distance[:, None],
                                       jnp.float32),
               focal=jnp.asarray(np.log1p(focal * rng.choice([-1.0, 1.0])),
                                 jnp.float32))
  return np.asarray(corrected_labels(jnp.asarray(labels), noise)), noise


# Points spread over a head-sized ball (radius 0.3 about the origin), fixed:
# where the reprojection error is measured.
_BALL = np.random.default_rng(0).normal(size=(256, 3))
HEAD_POINTS = (0.3 * _BALL / np.linalg.norm(_BALL, axis=-1, keepdims=True) *
               np.random.default_rng(1).random((256, 1)) ** (1 / 3)).astype(
                   np.float32)


def camera_error(labels: np.ndarray, truth: np.ndarray,
                 image_size: int) -> dict:
  """Labels vs true labels [K, 25] -> means over images: rotation (degrees,
  the angle of C' C^-1), translation (camera centre distance, % of the
  camera's distance), focal (% of the true focal) and reprojection (pixels
  at `image_size`, of points spread over the head)."""
  c2w, intr = (np.asarray(x) for x in cameras.unpack_label(
      jnp.asarray(labels)))
  c2w_t, intr_t = (np.asarray(x) for x in cameras.unpack_label(
      jnp.asarray(truth)))
  delta = c2w[:, :3, :3] @ np.swapaxes(c2w_t[:, :3, :3], -1, -2)
  cos = np.clip((np.trace(delta, axis1=-2, axis2=-1) - 1) / 2, -1, 1)
  distance = np.linalg.norm(c2w_t[:, :3, 3], axis=-1)
  pts = jnp.broadcast_to(jnp.asarray(HEAD_POINTS),
                         (len(labels), *HEAD_POINTS.shape))
  pix = np.asarray(cameras.project_points(pts, jnp.asarray(c2w),
                                          jnp.asarray(intr))[0])
  pix_t = np.asarray(cameras.project_points(pts, jnp.asarray(c2w_t),
                                            jnp.asarray(intr_t))[0])
  return dict(
      rotation_deg=float(np.mean(np.degrees(np.arccos(cos)))),
      translation_pct=float(np.mean(np.linalg.norm(
          c2w[:, :3, 3] - c2w_t[:, :3, 3], axis=-1) / distance) * 100),
      focal_pct=float(np.mean(np.abs(intr[:, 0, 0] / intr_t[:, 0, 0] - 1))
                      * 100),
      reprojection_px=float(np.mean(np.linalg.norm(pix - pix_t, axis=-1))
                            * image_size))
