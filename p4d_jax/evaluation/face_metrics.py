"""Face metrics with dlib's offline models (dlib-bin, face-recognition-models).

  identity_similarity  cosine similarity of dlib's 128-d ResNet face
                       embeddings, result vs source (1 = the same image;
                       scikit-image's astronaut and its mirror image: 0.99;
                       dlib's own same-person test is a Euclidean distance
                       below 0.6 between the raw embeddings)
  akd                  average keypoint distance: the mean distance in pixels
                       between the 68 landmarks of the result and of the
                       driving frame (the motion transfer; most meaningful for
                       same-identity pairs, where the face shapes agree)

Images smaller than `MIN_SIDE` are upscaled before detection (dlib's HOG
finds faces of about 80 pixels and larger); landmarks come back in the
input's pixels. An image with no face gives NaN, and the caller reports how
many.
"""

from __future__ import annotations

import numpy as np

from p4d_jax.data.faces import landmarks

MIN_SIDE = 256


class FaceAnalyser:
  """68 landmarks and the identity embedding of the largest face."""

  def __init__(self, min_score: float = 0.5):
    dlib, models = landmarks.load_dlib()
    self._dlib = dlib
    self._finder = landmarks.FaceFinder(min_score=min_score)
    self._embedder = dlib.face_recognition_model_v1(
        models.face_recognition_model_location())

  def analyse(self, image: np.ndarray):
    """uint8 [H, W, 3] -> (points [68, 2] in its pixels, embedding [128]), or
    None when no face is found."""
    scale = max(1, -(-MIN_SIDE // min(image.shape[:2])))
    big = np.ascontiguousarray(
        np.repeat(np.repeat(image, scale, 0), scale, 1) if scale > 1 else
        image)
    faces = self._finder.detect(big)
    if not faces:
      return None
    face = faces[0]
    box = self._dlib.rectangle(*face.box)
    shape = self._dlib.full_object_detection(
        box, [self._dlib.point(int(round(x)), int(round(y)))
              for x, y in face.points])
    embedding = np.array(self._embedder.compute_face_descriptor(big, shape))
    # Pixel centres: big pixel k covers input pixels k / scale.
    points = (face.points + 0.5) / scale - 0.5
    return points, embedding


def identity_similarity(a: np.ndarray | None, b: np.ndarray | None) -> float:
  """Cosine similarity of two `analyse` results' embeddings (NaN if either
  has no face)."""
  if a is None or b is None:
    return float("nan")
  ea, eb = a[1], b[1]
  return float(ea @ eb / (np.linalg.norm(ea) * np.linalg.norm(eb)))


def keypoint_distance(a, b) -> float:
  """Mean landmark distance in pixels of two `analyse` results (NaN if
  either has no face)."""
  if a is None or b is None:
    return float("nan")
  return float(np.mean(np.linalg.norm(a[0] - b[0], axis=-1)))


def per_item(pred: np.ndarray, source: np.ndarray | None,
             driving: np.ndarray | None,
             analyser: FaceAnalyser) -> tuple[dict, list[str]]:
  """uint8 [N, H, W, 3] results (and sources, drivers) -> {metric: [N]} and
  notes on the images without a detectable face."""
  if source is None and driving is None:
    return {}, ["identity_similarity, akd skipped: no source or driving "
                "images."]
  found = {}
  for role, images in (("result", pred), ("source", source),
                       ("driving", driving)):
    if images is not None:
      found[role] = [analyser.analyse(x) for x in images]
  out, notes = {}, []
  if "source" in found:
    out["identity_similarity"] = np.array([identity_similarity(
        r, s) for r, s in zip(found["result"], found["source"])])
  if "driving" in found:
    out["akd"] = np.array([keypoint_distance(r, d) for r, d in
                           zip(found["result"], found["driving"])])
  for role, faces in found.items():
    missing = sum(f is None for f in faces)
    if missing:
      notes.append(f"face metrics: no face found in {missing} of "
                   f"{len(faces)} {role} images (those items are NaN).")
  return out, notes
