"""Frame sequences: mp4 and gif round trips (atomic, fps kept), image
folders in name order, and unreadable inputs named: empty, not a video, no
frames, cut before its index, cut after N frames."""

import subprocess

import numpy as np
import pytest

from p4d_jax.media import image_io
from p4d_jax.media import video_io
from p4d_jax.user_errors import UserError


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
  with pytest.raises(UserError, match=r"broken\.mp4: not a video"):
    video_io.read_frames(str(bad))
  empty = tmp_path / "empty.mp4"
  empty.write_bytes(b"")
  with pytest.raises(ValueError, match=r"empty\.mp4: empty file"):
    video_io.read_frames(str(empty))
  with pytest.raises(FileNotFoundError, match="nowhere.mp4 does not exist"):
    video_io.read_frames(str(tmp_path / "nowhere.mp4"))


def ffmpeg(*args):
  """Runs imageio's ffmpeg (videos no writer of ours makes)."""
  import imageio_ffmpeg  # pylint: disable=import-outside-toplevel
  subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
                  *args], check=True)


def test_frameless_and_cut_videos_say_so(tmp_path):
  zero = tmp_path / "zero.mp4"
  ffmpeg("-f", "lavfi", "-i", "color=c=black:s=32x32:d=1", "-frames:v", "0",
         "-c:v", "libx264", str(zero))
  with pytest.raises(UserError, match=r"zero\.mp4: video has no frames"):
    video_io.read_frames(str(zero))
  whole = tmp_path / "whole.mp4"
  noise = np.random.default_rng(0).integers(0, 256, (10, 32, 32, 3), np.uint8)
  video_io.write_video(str(whole), noise, fps=25)   # its index at the end
  cut = tmp_path / "cut.mp4"
  cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
  with pytest.raises(UserError, match=r"cut\.mp4: video truncated: its "
                     "index .* is missing"):
    video_io.read_frames(str(cut))
  front = tmp_path / "front.mp4"   # index first: a cut decodes short
  ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x64:d=2:r=25", "-c:v", "libx264",
         "-g", "5", "-movflags", "+faststart", str(front))
  assert len(video_io.read_frames(str(front))[0]) == 50
  short = tmp_path / "short.mp4"
  short.write_bytes(front.read_bytes()[:int(front.stat().st_size * 0.7)])
  with pytest.raises(UserError, match=r"short\.mp4: video truncated at "
                     r"frame \d+ \(its header says 50"):
    video_io.read_frames(str(short))
