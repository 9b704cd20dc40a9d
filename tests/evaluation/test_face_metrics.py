"""dlib face metrics on scikit-image's astronaut (a photo with one face)."""

import numpy as np
import pytest
from skimage import data

from p4d_jax.evaluation import face_metrics as F


@pytest.fixture(scope="module")
def analyser():
  return F.FaceAnalyser()


@pytest.fixture(scope="module")
def astronaut():
  return data.astronaut()


def test_identity_similarity_of_a_face_with_itself_and_its_mirror(
    analyser, astronaut):
  face = analyser.analyse(astronaut)
  assert face[0].shape == (68, 2) and face[1].shape == (128,)
  np.testing.assert_allclose(F.identity_similarity(face, face), 1.0,
                             atol=1e-12)
  mirror = analyser.analyse(np.ascontiguousarray(astronaut[:, ::-1]))
  # Measured 0.990 (Euclidean 0.20, far inside dlib's 0.6 same-person test).
  assert 0.95 < F.identity_similarity(face, mirror) < 1.0


def test_akd_measures_a_known_shift(analyser, astronaut):
  """The same face 8 pixels lower: every landmark moves by 8 pixels."""
  up = analyser.analyse(np.ascontiguousarray(astronaut[8:]))
  down = analyser.analyse(np.ascontiguousarray(astronaut[:-8]))
  assert F.keypoint_distance(up, up) == 0.0
  assert abs(F.keypoint_distance(up, down) - 8.0) < 1.0   # 8.15 measured


def test_small_images_are_upscaled_and_landmarks_come_back_in_their_pixels(
    analyser, astronaut):
  # 128^2 (4x4 box averages): too small for dlib's HOG as it is.
  small = astronaut.reshape(128, 4, 128, 4, 3).mean((1, 3)).astype(np.uint8)
  face, big = analyser.analyse(small), analyser.analyse(astronaut)
  # The same landmarks, in pixels of the 4x smaller image (pixel centres
  # k -> (k + 0.5) / 4 - 0.5): within a pixel.
  np.testing.assert_allclose(face[0], (big[0] + 0.5) / 4 - 0.5, atol=1.5)


def test_items_without_faces_are_nan_and_counted(analyser, astronaut):
  cat = np.ascontiguousarray(data.chelsea()[:300, :300])
  face = np.ascontiguousarray(astronaut[:300, 100:400])
  values, notes = F.per_item(np.stack([face, cat]), np.stack([face, face]),
                             np.stack([face, face]), analyser)
  assert values["identity_similarity"][0] == pytest.approx(1.0)
  assert values["akd"][0] == 0.0
  assert np.isnan(values["identity_similarity"][1])
  assert np.isnan(values["akd"][1])
  assert notes == ["face metrics: no face found in 1 of 2 result images "
                   "(those items are NaN)."]
