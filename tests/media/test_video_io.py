"""Frame sequences: mp4 and gif round trips (atomic, fps kept), image
folders in name order, and unreadable inputs named."""

import numpy as np
import pytest

from p4d_jax.media import image_io
from p4d_jax.media import video_io


def halves(count=5, height=32, width=48):
  frames = np.zeros((count, height, width, 3), np.uint8)
  frames[:, :, :width // 2] = 255   # left half white, right half black
  return frames


def test_mp4_round_trip_leaves_no_temp_files(tmp_path):
  path = video_io.write_video(str(tmp_path / "clip.mp4"), halves(), fps=10)
  back, fps = video_io.read_frames(path)
  assert back.shape == (5, 32, 48, 3) and back.dtype == np.uint8 and fps == 10
  assert back[:, :, :20].mean() > 240 and back[:, :, 28:].mean() < 15
  assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_gif_round_trip_is_exact_with_its_frame_rate(tmp_path):
  frames = halves(3, 8, 8)
  frames[1] = 255 - frames[1]
  path = video_io.write_video(str(tmp_path / "clip.gif"), frames, fps=10)
  back, fps = video_io.read_frames(path)
  np.testing.assert_array_equal(back, frames)
  assert fps == 10


def test_folders_and_stills(tmp_path):
  frames = np.random.default_rng(0).integers(0, 256, (3, 6, 5, 3), np.uint8)
  for name, frame in zip(("b.png", "a.png", "c.PNG"), frames):
    image_io.write_image(str(tmp_path / name), frame)
  (tmp_path / "notes.txt").write_text("not a frame")
  got, fps = video_io.read_frames(str(tmp_path))
  np.testing.assert_array_equal(got, frames[[1, 0, 2]])   # name order
  assert fps is None
  assert video_io.read_folder(str(tmp_path))[0] == ["a.png", "b.png", "c.PNG"]
  still, fps = video_io.read_frames(str(tmp_path / "a.png"))
  np.testing.assert_array_equal(still, frames[1:2])
  assert fps is None
  image_io.write_image(str(tmp_path / "d.png"), frames[0][:4])
  with pytest.raises(ValueError, match="differ in size"):
    video_io.read_frames(str(tmp_path))
  (tmp_path / "none").mkdir()
  with pytest.raises(ValueError, match="none holds no images"):
    video_io.read_frames(str(tmp_path / "none"))


def test_unreadable_and_missing_videos_are_named(tmp_path):
  bad = tmp_path / "broken.mp4"
  bad.write_bytes(b"not a video")
  with pytest.raises(ValueError, match="Cannot read .*broken.mp4 as a video"):
    video_io.read_frames(str(bad))
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  with pytest.raises(ValueError, match=r"empty\.mp4: empty file"):
    video_io.read_frames(str(empty))
  with pytest.raises(FileNotFoundError, match="nowhere.mp4 does not exist"):
    video_io.read_frames(str(tmp_path / "nowhere.mp4"))
