"""Alignment and head pose: closed-form fits, a camera round trip through
rendering.cameras, and on scikit-image's astronaut: the face is found (its
known false positive is not), centred at any crop size, and posed
plausibly; a mirrored image negates yaw and roll, a rotated one shifts roll
by the rotation."""

import cv2
import numpy as np
import pytest
from skimage import data

from p4d_jax.data.faces import alignment
from p4d_jax.data.faces import head_pose
from p4d_jax.data.faces import landmarks
from p4d_jax.rendering import cameras


@pytest.fixture(scope="module")
def finder():
  return landmarks.FaceFinder()


@pytest.fixture(scope="module")
def astronaut():
  return data.astronaut()


def angles_deg(label):
  return np.degrees(head_pose.yaw_pitch_roll(label))


def with_five(points5):
  """A [68, 2] array whose five alignment points are `points5` [5, 2]."""
  p = np.zeros((68, 2))
  p[36] = p[39] = points5[0]
  p[42] = p[45] = points5[1]
  p[30], p[48], p[54] = points5[2], points5[3], points5[4]
  return p


def test_fit_recovers_a_known_weak_perspective_projection():
  angle = 0.3   # a yaw: rows of a rotation, scaled
  rows = 57.0 * np.array([[np.cos(angle), 0.0, np.sin(angle)],
                          [0.0, 1.0, 0.0]])
  centre = np.array([100.0, 80.0])
  points = (alignment.STANDARD_5 @ rows.T) * [1, -1] + centre   # y down
  scale, got = alignment.fit_scale_and_centre(points)
  assert scale == pytest.approx(57.0, rel=1e-9)
  np.testing.assert_allclose(got, centre, atol=1e-9)


def test_pose_round_trip_through_rendering_cameras():
  size = 256
  for yaw, elevation, roll in [(0.0, 0.1, 0.0), (0.4, 0.3, 0.1),
                               (-0.5, -0.1, -0.2)]:
    c2w = cameras.random_view_pose(yaw, elevation, roll, 4.0,
                                   np.array([0.0, 0.0, 0.05]))
    intr = cameras.focal_intrinsics(cameras.P4D_FOCAL)
    pix, _ = cameras.project_points(head_pose.generic_face(), c2w, intr,
                                    convention="p4d")
    label = head_pose.camera_from_points(with_five(np.asarray(pix) * size),
                                         size)
    want = cameras.pack_label(c2w, intr)
    np.testing.assert_allclose(angles_deg(label), angles_deg(want),
                               atol=0.05)
    np.testing.assert_allclose(label, want, atol=2e-3)


def test_astronaut_face_is_found_and_the_patch_is_not(finder, astronaut):
  faces = finder.detect(astronaut)
  assert len(faces) == 1 and faces[0].box == (175, 76, 265, 166)
  everything = landmarks.FaceFinder(min_score=0.0).detect(astronaut)
  assert len(everything) == 2   # the mission patch scores about 0.12
  with pytest.raises(landmarks.NoFaceError,
                     match=r"astro.png: --face_index 1 asked for, but only 1"):
    finder.find(astronaut, "astro.png", index=1)
  with pytest.raises(landmarks.NoFaceError, match="blank.png: no face"):
    finder.find(np.full((200, 200, 3), 128, np.uint8), "blank.png")


def test_crop_is_centred_and_the_same_at_every_size(finder, astronaut):
  face = finder.find(astronaut, "astronaut")
  eyes = {}
  for size in (64, 512):
    transform = alignment.CropTransform.from_points(face.points, size)
    crop = alignment.crop(astronaut, transform)
    assert crop.shape == (size, size, 3)
    five = alignment.five_points(transform.to_crop(face.points)) / size
    eyes[size] = five
    mid = five[:2].mean(0)
    assert abs(mid[0] - 0.5) < 0.03 and 0.35 < mid[1] < 0.55
    # The face spans the same fraction of every crop.
    assert 0.2 < five[1, 0] - five[0, 0] < 0.3
  np.testing.assert_allclose(eyes[64], eyes[512], atol=1e-9)


def test_astronaut_pose_is_plausible_and_mirrors(finder, astronaut):
  def label_of(image):
    face = finder.find(image, "astronaut")
    transform = alignment.CropTransform.from_points(face.points, 256)
    return head_pose.camera_from_points(transform.to_crop(face.points), 256)
  label = label_of(astronaut)
  yaw, pitch, roll = angles_deg(label)
  assert abs(yaw) < 10 and abs(roll) < 10 and -5 < pitch < 30
  radius = np.linalg.norm(np.asarray(cameras.unpack_label(label)[0])[:3, 3])
  assert 3.5 < radius < 4.6   # Portrait4D's random views: 3.65 to 4.45
  m_yaw, m_pitch, m_roll = angles_deg(label_of(astronaut[:, ::-1]))
  assert abs(m_yaw + yaw) < 3 and abs(m_roll + roll) < 3
  assert abs(m_pitch - pitch) < 3


@pytest.mark.parametrize("degrees", [-12.0, 8.0])
def test_rotating_the_image_rolls_the_camera(finder, astronaut, degrees):
  face = finder.find(astronaut, "astronaut")
  centre = tuple(float(c) for c in face.points.mean(0))
  turn = cv2.getRotationMatrix2D(centre, degrees, 1.0)
  rotated = cv2.warpAffine(astronaut, turn, (512, 512),
                           borderMode=cv2.BORDER_REPLICATE)

  def pose(image):
    f = finder.find(image, "astronaut")
    t = alignment.CropTransform.from_points(f.points, 256)
    return angles_deg(head_pose.camera_from_points(t.to_crop(f.points), 256))
  before, after = pose(astronaut), pose(rotated)
  # cv2 turns the picture counter-clockwise by `degrees`; the camera's roll
  # (image right vector's rise) goes the other way.
  assert after[2] - before[2] == pytest.approx(-degrees, abs=1.5)
  assert abs(after[0] - before[0]) < 3


def test_lfw_faces_are_found_and_centred(finder):
  faces = data.lfw_subset()[:10]   # 25 x 25 grey; dlib needs about 80 px
  found = 0
  for i, grey in enumerate(faces):
    big = cv2.resize((grey * 255).astype(np.uint8), (100, 100),
                     interpolation=cv2.INTER_CUBIC)
    image = np.repeat(big[..., None], 3, axis=-1)
    detected = finder.detect(image)
    if not detected:
      continue
    found += 1
    t = alignment.CropTransform.from_points(detected[0].points, 64)
    mid = alignment.five_points(t.to_crop(detected[0].points))[:2].mean(0)
    assert abs(mid[0] / 64 - 0.5) < 0.1, i   # yawed faces sit off-centre
  assert found >= 8
