"""Where expressions show: the eye and mouth regions of a SynthHeads view.

Every expression parameter moves geometry near the eyes (blinks, brows) or
the mouth (jaw, smile, pucker), so errors restricted to these regions measure
how well a reenactment carries the driver's expression, apart from the rest
of the face. A region is a ball in the head-local frame, fixed per identity so
that the same pixels are compared whatever the expression; projected into a
view it becomes a disk.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from p4d_jax.data.synthheads import geometry
from p4d_jax.rendering import cameras

REGIONS = ("eyes", "mouth")

# Above the eyeball so the ball covers the lids and the brows (0.055-0.075
# higher); in front of it so it covers the lids' front.
_EYE_OFFSET = (0.0, 0.025, 0.015)
_EYE_RADIUS = 0.065
# The lips, the cheeks' lift and the jaw and chin, which drop 0.055 when the
# mouth opens fully.
_MOUTH_CENTER = (0.0, -0.21 - geometry.HEAD_DROP, 0.2)
_MOUTH_RADIUS = 0.14


def region_balls(identity) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Balls of one identity [D]: centres [3, 3] (head-local), radii [3] and
  their region index [3] (left eye, right eye -> "eyes", then "mouth")."""
  eyes = geometry.eye_frame(jnp.asarray(identity, jnp.float32))
  centers = np.concatenate([np.asarray(eyes.centers) + np.array(_EYE_OFFSET),
                            np.array([_MOUTH_CENTER])]).astype(np.float32)
  radii = np.array([_EYE_RADIUS, _EYE_RADIUS, _MOUTH_RADIUS], np.float32)
  return centers, radii, np.array([0, 0, 1])


def region_masks(identity, label, size: int) -> np.ndarray:
  """Masks [2, size, size] (float 0/1; `REGIONS` order) of one identity [D]
  seen by a head-relative camera `label` [25] (SynthHeads' camera labels)."""
  centers, radii, which = region_balls(identity)
  c2w, intrinsics = cameras.unpack_label(jnp.asarray(label, jnp.float32))
  uv, depth = cameras.project_points(jnp.asarray(centers), c2w, intrinsics)
  uv, depth = np.asarray(uv), np.asarray(depth)
  # A ball's silhouette is (nearly) a disk of radius r * focal / depth.
  radius_px = radii * float(intrinsics[0, 0]) / depth * size
  grid = (np.arange(size, dtype=np.float32) + 0.5)
  out = np.zeros((len(REGIONS), size, size), np.float32)
  for (u, v), r, k in zip(uv * size, radius_px, which):
    inside = ((grid[None, :] - u) ** 2 + (grid[:, None] - v) ** 2) <= r * r
    out[k] = np.maximum(out[k], inside)
  return out
