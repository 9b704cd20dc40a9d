"""Head pose from five landmarks of an aligned crop, as a camera label.

The camera is solved with OpenCV's PnP against a generic five-point face
placed in the head frame the renderer and SynthHeads use (y up, the face
toward +z, world units): the alignment's standard face scaled to SynthHeads'
eye spacing, its eyes on SynthHeads' eye surface. The crop's intrinsics are
Portrait4D's (focal 4.7572 of the image size, centred), so the label means
what a SynthHeads or Portrait4D label means: the camera seen from the head.
"""

from __future__ import annotations

import numpy as np

from p4d_jax.data.faces import alignment
from p4d_jax.rendering import cameras

# SynthHeads' mean head: eyeballs 0.17 apart, their front surface here.
_SYNTH_EYE_SPACING = 0.17
_SYNTH_EYE_SURFACE = np.array([0.0, -0.005, 0.241])


def generic_face() -> np.ndarray:
  """[5, 3] head-frame points in alignment.five_points' order."""
  eyes = alignment.STANDARD_5[:2]
  scale = _SYNTH_EYE_SPACING / np.linalg.norm(eyes[1] - eyes[0])
  return (alignment.STANDARD_5 - eyes.mean(0)) * scale + _SYNTH_EYE_SURFACE


def camera_from_points(points68: np.ndarray, size: int) -> np.ndarray:
  """[68, 2] landmarks in a size x size aligned crop -> the 25-float camera
  label (p4d cam2world of the camera in the head frame, intrinsics)."""
  import cv2  # pylint: disable=import-outside-toplevel
  intrinsics = np.asarray(cameras.focal_intrinsics(cameras.P4D_FOCAL),
                          np.float64)
  pixels = np.diag([size, size, 1.0]) @ intrinsics
  # Start from a frontal camera 4 units away (OpenCV: y down, z forward).
  rvec, tvec = np.array([[np.pi], [0.0], [0.0]]), np.array([[0.0], [0.0],
                                                             [4.0]])
  ok, rvec, tvec = cv2.solvePnP(
      generic_face(), alignment.five_points(points68), pixels, None, rvec,
      tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
  if not ok:
    raise ValueError("solvePnP found no head pose for these landmarks.")
  rotation, _ = cv2.Rodrigues(rvec)
  c2w = np.eye(4)
  c2w[:3, :3] = rotation.T
  c2w[:3, 3] = (-rotation.T @ tvec)[:, 0]
  c2w = np.asarray(cameras.convert_convention(c2w.astype(np.float32), "eg3d",
                                             "p4d"))
  return np.asarray(cameras.pack_label(c2w, intrinsics), np.float32)


def yaw_pitch_roll(label: np.ndarray) -> np.ndarray:
  """[..., 25] labels -> [..., 3] angles (radians) of the camera around the
  head: yaw about y (positive toward +x), pitch (positive above the face),
  roll of the image about the viewing axis."""
  c2w, _ = cameras.unpack_label(np.asarray(label))
  c2w = np.asarray(c2w)
  centre = c2w[..., :3, 3]
  yaw = np.arctan2(centre[..., 0], centre[..., 2])
  pitch = np.arctan2(centre[..., 1], np.hypot(centre[..., 0], centre[..., 2]))
  right = c2w[..., :3, 0]
  roll = np.arctan2(right[..., 1], np.hypot(right[..., 0], right[..., 2]))
  return np.stack([yaw, pitch, roll], axis=-1)
