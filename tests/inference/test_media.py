"""Reenactment inputs: every kind becomes frames at the model's size with a
camera per frame, and bad inputs are named."""

import numpy as np
import pytest

from p4d_jax.data import builders
from p4d_jax.data import clip_files
from p4d_jax.data import pipeline
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import speech
from p4d_jax.inference import avatar
from p4d_jax.inference import media
from p4d_jax.media import image_io
from p4d_jax.media import video_io


def test_centre_crop_keeps_the_central_square():
  frame = np.zeros((1, 40, 100, 3), np.uint8)
  frame[:, :, 30:70] = 200                      # the central 40 x 40 square
  np.testing.assert_array_equal(media.centre_crop(frame, 20),
                                np.full((1, 20, 20, 3), 200, np.uint8))


def test_a_faceless_video_is_cropped_with_the_frontal_camera(tmp_path):
  path = str(tmp_path / "grey.mp4")
  video_io.write_video(path, np.full((3, 48, 64, 3), 128, np.uint8), fps=10)
  got = media.load(path, 32)
  assert got.images.shape == (3, 32, 32, 3) and got.fps == 10
  np.testing.assert_allclose(got.cameras, np.repeat(
      avatar.view_label()[None], 3, 0), atol=1e-6)
  assert "frontal camera" in got.note and "no face found" in got.note
  assert media.load(path, 32, align=False, max_frames=2).images.shape[0] == 2


def test_synthheads_clips_come_with_their_exact_cameras(synthheads_tiny):
  clip = media.load("synthheads:clips/tiny/test:1", 32, data_dir=synthheads_tiny)
  one = media.load("synthheads:clips/tiny/test:1:5", 32,
                   data_dir=synthheads_tiny)
  assert clip.images.shape == (8, 32, 32, 3) and clip.cameras.shape == (8, 25)
  np.testing.assert_array_equal(one.images[0], clip.images[5])
  np.testing.assert_array_equal(one.cameras[0], clip.cameras[5])
  # The exact head and expressions travel with the frames they belong to.
  assert clip.truth["expression"].shape == (8, 6)
  np.testing.assert_array_equal(one.truth["expression"][0],
                                clip.truth["expression"][5])
  np.testing.assert_array_equal(one.truth["identity"], clip.truth["identity"])
  three = media.load("synthheads:clips/tiny/test:1", 32, max_frames=3,
                     data_dir=synthheads_tiny)
  np.testing.assert_array_equal(three.truth["expression"],
                                clip.truth["expression"][:3])
  np.testing.assert_array_equal(one.truth["mask"][0], clip.truth["mask"][5])
  np.testing.assert_array_equal(three.truth["mask"], clip.truth["mask"][:3])
  # The mask is the head's: opaque where the head is, clear at the corners.
  assert clip.truth["mask"].shape == (8, 32, 32)
  assert clip.truth["mask"].max() == 1.0 and clip.truth["mask"][:, 0, 0].max() == 0.0


def test_adapt_fits_to_masks_only_when_every_input_has_one(synthheads_tiny,
                                                          tmp_path):
  from tools import adapt  # pylint: disable=import-outside-toplevel
  clip = "synthheads:clips/tiny/test:1"
  got = adapt.load_inputs([clip], 32, 4, data_dir=synthheads_tiny)
  full = media.load(clip, 32, data_dir=synthheads_tiny)
  np.testing.assert_array_equal(got.truth["mask"],
                                full.truth["mask"][[0, 2, 5, 7]])
  np.testing.assert_array_equal(got.images, full.images[[0, 2, 5, 7]])
  photo = tmp_path / "photo.png"
  image_io.write_image(str(photo), full.images[0])
  mixed = adapt.load_inputs([clip, str(photo)], 32, 4, align=False,
                            data_dir=synthheads_tiny)
  assert mixed.truth is None
  with pytest.raises(ValueError, match="has frames 0..7"):
    media.load("synthheads:clips/tiny/test:1:9", 32, data_dir=synthheads_tiny)
  with pytest.raises(ValueError, match="model takes 64x64"):
    media.load("synthheads:clips/tiny/test:1", 64, data_dir=synthheads_tiny)
  with pytest.raises(ValueError, match="write synthheads:clips/SIZE/SPLIT"):
    media.load("synthheads:clips/tiny", 32)


def test_a_stored_clip_speaks_as_its_track_says(synthheads_tiny):
  """Audio, frames and parameters travel together: the speech re-derived
  from the stored clip is the clip's speech, frame-aligned."""
  wave = media.synthheads_speech("synthheads:clips/tiny/test:1",
                                 synthheads_tiny)
  spec = builders.SIZES["tiny"]
  ident = int(pipeline.synthheads("clips", "tiny", "test",
                                  synthheads_tiny)[1]["identity_index"])
  assert ident >= P.HELD_OUT_OFFSET
  expression = examples.clip_curves(spec, ident)[0]
  assert wave.shape == (8 * 1280,)
  np.testing.assert_array_equal(
      wave, speech.clip_audio(expression, spec.fps, spec.seed, ident))


def test_preprocessed_clips_and_image_folders(tmp_path):
  frames = np.random.default_rng(0).integers(0, 255, (4, 32, 32, 3), np.uint8)
  cams = np.random.default_rng(1).standard_normal((4, 25)).astype(np.float32)
  clip_files.write_clip(str(tmp_path), "talk", frames, cams,
                        np.zeros((4, 68, 2), np.float32), fps=30.0,
                        source="test")
  got = media.load(str(tmp_path / "talk"), 32)
  np.testing.assert_array_equal(got.images, frames)
  np.testing.assert_array_equal(got.cameras, cams)
  assert got.fps == 30.0
  mixed = tmp_path / "mixed"
  mixed.mkdir()
  image_io.write_image(str(mixed / "a.png"), frames[0])
  image_io.write_image(str(mixed / "b.png"), frames[0][:16])
  with pytest.raises(ValueError, match="differ in size"):
    media.load(str(mixed), 32)
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="holds no images"):
    media.load(str(tmp_path / "empty"), 32)
