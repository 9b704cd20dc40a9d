"""A real image or video -> aligned crops, landmarks and camera labels.

    frames, fps = video_io.read_frames("talk.mp4")   # p4d_jax.media.video_io
    clip = preprocess.process(frames, fps, size=512, finder=FaceFinder(),
                              where="talk.mp4")
    clip["frames"]    # uint8 [T, 512, 512, 3]  aligned crops
    clip["cameras"]   # float32 [T, 25]         head-frame camera labels

Per frame: dlib finds the faces and their 68 landmarks (the first frame takes
the `face_index`-th largest; later frames the face nearest the previous one,
so a video never jumps between people). For video the landmarks are
smoothed over time with a one-euro filter in units of the eye distance; the
crop (`alignment`) and the camera (`head_pose`) both follow from them, so
both are smooth.
"""

from __future__ import annotations

import os

import numpy as np

from p4d_jax.data.faces import alignment
from p4d_jax.data.faces import head_pose
from p4d_jax.data.faces import landmarks as landmarks_lib
from p4d_jax.data.faces import one_euro
from p4d_jax.progress import Progress


def _centre(face: landmarks_lib.Face) -> np.ndarray:
  return np.array([(face.box[0] + face.box[2]) / 2,
                   (face.box[1] + face.box[3]) / 2])


def track_landmarks(frames: np.ndarray, finder: landmarks_lib.FaceFinder,
                    where: str, face_index: int = 0) -> np.ndarray:
  """[T, 68, 2] landmarks of one face through the frames."""
  points, previous = [], None
  progress = Progress(len(frames), f"landmarks {os.path.basename(where)}",
                      every=25) if len(frames) > 1 else None
  for t, frame in enumerate(frames):
    name = f"{where} frame {t}" if len(frames) > 1 else where
    if previous is None:
      face = finder.find(frame, name, face_index)
    else:
      faces = finder.detect(frame)
      if not faces:
        raise landmarks_lib.NoFaceError(
            f"{name}: no face found (the face of the frames before was lost)."
            " Trim the video or lower --min_score.")
      face = min(faces, key=lambda f: np.linalg.norm(_centre(f) - previous))
    previous = _centre(face)
    points.append(face.points)
    if progress:
      progress.update(t + 1)
  return np.stack(points)


def smooth_landmarks(points: np.ndarray, fps: float, min_cutoff: float,
                     beta: float) -> np.ndarray:
  """One-euro filtering of [T, 68, 2] landmarks in units of the clip's
  median eye distance (so the settings do not depend on face size)."""
  eyes = alignment.five_points(points)[:, :2]
  unit = float(np.median(np.linalg.norm(eyes[:, 1] - eyes[:, 0], axis=-1)))
  return one_euro.smooth(points / unit, fps, min_cutoff, beta) * unit


def process(frames: np.ndarray, fps: float | None, size: int,
            finder: landmarks_lib.FaceFinder, where: str, face_index: int = 0,
            smooth: bool | None = None, min_cutoff: float = 1.0,
            beta: float = 1.0) -> dict:
  """Crops, crop landmarks and camera labels of one face in `frames`.
  `smooth` None smooths videos (fps given, more than one frame) only."""
  raw = track_landmarks(frames, finder, where, face_index)
  if smooth is None:
    smooth = fps is not None and len(frames) > 1
  points = (smooth_landmarks(raw, fps or 25.0, min_cutoff, beta) if smooth
            else raw)
  crops, crop_points, labels, transforms = [], [], [], []
  for frame, p in zip(frames, points):
    transform = alignment.CropTransform.from_points(p, size)
    crops.append(alignment.crop(frame, transform))
    crop_points.append(transform.to_crop(p))
    labels.append(head_pose.camera_from_points(crop_points[-1], size))
    transforms.append(np.concatenate([transform.centre, [transform.zoom]]))
  return dict(frames=np.stack(crops), landmarks=np.stack(crop_points),
              cameras=np.stack(labels), raw_landmarks=raw,
              transforms=np.stack(transforms), smoothed=smooth)
