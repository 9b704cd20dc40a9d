"""Video/image writing round trips and depth colouring."""

import os

import imageio.v2 as imageio
import numpy as np
import pytest

from p4d_jax.inference import video_io


# Reading back forks ffmpeg, which execs at once: JAX's fork warning is moot.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_video_round_trip_leaves_no_temp_files(tmp_path):
  frames = np.zeros((5, 32, 48, 3), np.uint8)
  frames[:, :, :24] = 255  # Left half white, right half black.
  path = video_io.write_video(str(tmp_path / "clip.mp4"), frames, fps=10)
  with imageio.get_reader(path, format="FFMPEG") as reader:
    back = np.stack([frame for frame in reader.iter_data()])
  assert back.shape == (5, 32, 48, 3)
  assert back[:, :, :20].mean() > 240 and back[:, :, 28:].mean() < 15
  assert sorted(os.listdir(tmp_path)) == ["clip.mp4"]


def test_image_round_trip_is_exact(tmp_path):
  image = np.random.default_rng(0).integers(0, 256, (9, 7, 3), np.uint8)
  path = video_io.write_image(str(tmp_path / "a.png"), image)
  np.testing.assert_array_equal(imageio.imread(path), image)


def test_to_uint8_and_depth_colours():
  np.testing.assert_array_equal(video_io.to_uint8(np.array([-1.0, 0.0, 1.0,
                                                            2.0])),
                                [0, 128, 255, 255])
  depth = np.array([[1.0, 2.0, 3.0]])
  rgb = video_io.colorize_depth(depth, 1.0, 3.0, alpha=np.array([[1, 1, 0]]))
  assert rgb[0, 0, 0] > 200 and rgb[0, 0, 1] > 200  # Near: yellow.
  assert rgb[0, 1].sum() > 0
  np.testing.assert_array_equal(rgb[0, 2], 0)  # Background: black.
