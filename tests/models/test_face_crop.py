"""The expression crop is a similarity warp fixed by the camera: the
anchors land where the crop's layout puts them, whatever the camera."""

import jax.numpy as jnp
import numpy as np
import pytest

from p4d_jax.data.synthheads import params, regions
from p4d_jax.inference import avatar
from p4d_jax.models.motion import face_crop



def coordinate_image(size):
  """[1, size, size, 3]: x and y of each pixel centre in [0, 1] image units
  (channels 0 and 1): bilinear sampling of it is exact."""
  t = (np.arange(size, dtype=np.float32) + 0.5) / size
  x, y = np.meshgrid(t, t, indexing="xy")
  return jnp.asarray(np.stack([x, y, 0 * x], -1)[None])


@pytest.mark.parametrize("yaw", [0.0, 0.3, -0.25])
def test_anchors_land_at_the_crops_fixed_places(yaw):
  label = jnp.asarray(avatar.view_label(yaw))[None]
  size = 32
  crop = np.asarray(face_crop.crop(coordinate_image(64), label, 64, size))
  uv = np.asarray(face_crop.anchor_pixels(label))[0]          # [3, 2]
  # Where the layout puts them: eyes on the row v = -CENTER_AT / HALF_SIDE,
  # the mouth on v = (1 - CENTER_AT) / HALF_SIDE, both on the centre column
  # between the eyes (u = 0 at their midpoint).
  def sample(u, v):   # crop value at crop coordinates u, v in [-1, 1]
    px = (np.array([u, v]) + 1) / 2 * size - 0.5
    i0, j0 = np.floor(px).astype(int)
    f = px - [i0, j0]
    c = crop[0, :, :, :2]
    return ((1 - f[1]) * ((1 - f[0]) * c[j0, i0] + f[0] * c[j0, i0 + 1]) +
            f[1] * ((1 - f[0]) * c[j0 + 1, i0] + f[0] * c[j0 + 1, i0 + 1]))
  eyes_v = -face_crop.CENTER_AT / face_crop.HALF_SIDE
  mouth_v = (1 - face_crop.CENTER_AT) / face_crop.HALF_SIDE
  np.testing.assert_allclose(sample(0.0, eyes_v), uv[:2].mean(0), atol=1e-4)
  np.testing.assert_allclose(sample(0.0, mouth_v), uv[2], atol=1e-4)


def test_the_crop_is_upright_and_not_mirrored():
  label = jnp.asarray(avatar.view_label(0.0))[None]
  crop = np.asarray(face_crop.crop(coordinate_image(64), label, 64, 16))[0]
  assert np.all(np.diff(crop[:, :, 0], axis=1) > 0)   # x grows to the right
  assert np.all(np.diff(crop[:, :, 1], axis=0) > 0)   # y grows downwards
  # The subject's left eye (+x in the head frame) is on the image's right
  # for a camera in front of the face.
  uv = np.asarray(face_crop.anchor_pixels(label))[0]
  assert uv[0, 0] > uv[1, 0]


def test_the_frame_size_does_not_matter():
  """One smooth frame at 256^2 and at 64^2 gives one crop (taken after an
  antialiased resize to `frame`), as a 512^2 photo and a 64^2 render of a
  face should."""
  def frame(size):
    t = (np.arange(size, dtype=np.float32) + 0.5) / size
    x, y = np.meshgrid(t, t, indexing="xy")
    rgb = [np.sin(3 * x + 1), np.cos(4 * y), np.sin(2 * x + 3 * y)]
    return jnp.asarray(np.stack(rgb, -1)[None])
  label = jnp.asarray(avatar.view_label(0.2))[None]
  a = np.asarray(face_crop.crop(frame(64), label, 64, 32))
  b = np.asarray(face_crop.crop(frame(256), label, 64, 32))
  assert np.max(np.abs(a - b)) < 2e-3
  assert np.std(a) > 0.1


def test_jitter_moves_the_crop_by_what_it_says():
  label = jnp.asarray(avatar.view_label(0.0))[None]
  image = coordinate_image(64)
  base = np.asarray(face_crop.crop(image, label, 64, 16))
  _, _, half = face_crop.crop_frames(label)
  shifted = np.asarray(face_crop.crop(image, label, 64, 16,
                                      jnp.array([[0.1, 0.0, 0.0, 0.0]])))
  np.testing.assert_allclose(shifted[..., 0] - base[..., 0],
                             0.1 * float(half[0]), atol=1e-5)



@pytest.mark.parametrize("yaw", [0.0, 0.3, -0.4])
def test_expression_regions_cover_synthheads_regions(yaw):
  """The camera-only regions (anchors of the average head) hold >= 93 % of
  the pixels of SynthHeads' per-identity eye and mouth regions (inside which
  >= 90 % of every expression's pixel change falls:
  test_synthheads_regions.py), and are at most 1.35x their area: a loss
  weighted by them sees the expression and not much else."""
  label = np.asarray(avatar.view_label(yaw), np.float32)
  ours = np.asarray(face_crop.expression_regions(jnp.asarray(label)[None],
                                                 64))[0]
  for identity in range(3):
    theirs = regions.region_masks(params.identity_params(0, identity), label,
                                  64).max(0)
    assert (theirs * ours).sum() >= 0.93 * theirs.sum()
    assert ours.sum() <= 1.35 * theirs.sum()
