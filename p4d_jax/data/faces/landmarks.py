"""Face detection and 68 landmarks with dlib's HOG detector and shape
predictor, both offline from PyPI wheels (dlib-bin, face-recognition-models).

    finder = landmarks.FaceFinder()
    face = finder.find(image, "portrait.jpg")   # the chosen face, or an error
    face.points        # float [68, 2] pixel (x, y), iBUG 300-W order
"""

from __future__ import annotations

import dataclasses

import numpy as np

from p4d_jax.user_errors import UserError


@dataclasses.dataclass(frozen=True)
class Face:
  box: tuple[int, int, int, int]   # left, top, right, bottom (pixels)
  score: float                     # the detector's confidence
  points: np.ndarray               # [68, 2] (x, y) pixels

  @property
  def size(self) -> int:
    return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


class NoFaceError(UserError):
  """No face (above the score threshold) in an image; names the image."""


class MissingExtraError(UserError, ImportError):
  """dlib or its models are not installed; says how to install them."""


def load_dlib():
  """(dlib, face_recognition_models), or an ImportError that says how to
  install them."""
  try:
    import dlib  # pylint: disable=import-outside-toplevel
    import face_recognition_models  # pylint: disable=import-outside-toplevel
  except ImportError as err:
    raise MissingExtraError(
        "Face preprocessing needs the `face` extra: P4D_EXTRAS=test,face "
        "bash launch/run.sh true (installs dlib-bin, face-recognition-models, "
        "opencv-python-headless, scikit-image).") from err
  return dlib, face_recognition_models


class FaceFinder:
  """Detects faces (HOG, `upsample` image doublings) and fits 68 points.

  A detection counts when its score is at least `min_score` (dlib's HOG
  scores real faces above about 0.5 and its false positives, e.g. on
  astronaut()'s mission patch, near 0.1).
  """

  def __init__(self, min_score: float = 0.5, upsample: int = 1):
    dlib, models = load_dlib()
    self.min_score = min_score
    self.upsample = upsample
    self._detector = dlib.get_frontal_face_detector()
    self._predictor = dlib.shape_predictor(
        models.pose_predictor_model_location())

  def detect(self, image: np.ndarray) -> list[Face]:
    """Every face above min_score, largest first. image uint8 [H, W, 3]."""
    image = np.ascontiguousarray(image)
    boxes, scores, _ = self._detector.run(image, self.upsample, 0.0)
    faces = []
    for box, score in zip(boxes, scores):
      if score < self.min_score:
        continue
      shape = self._predictor(image, box)
      points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
      faces.append(Face((box.left(), box.top(), box.right(), box.bottom()),
                        float(score), points))
    return sorted(faces, key=lambda f: -f.size)

  def find(self, image: np.ndarray, where: str, index: int = 0) -> Face:
    """The `index`-th largest face; errors name `where` (file, frame)."""
    faces = self.detect(image)
    if not faces:
      raise NoFaceError(
          f"{where}: no face found (dlib HOG, score >= {self.min_score}). "
          "Use a larger or more frontal face, or lower --min_score.")
    if index >= len(faces):
      raise NoFaceError(f"{where}: --face_index {index} asked for, but only "
                        f"{len(faces)} face(s) found.")
    return faces[index]
