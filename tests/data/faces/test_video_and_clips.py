"""Video preprocessing: the one-euro filter's closed forms; on a synthetic
video that pans and turns the astronaut, smoothing cuts the crop's jitter
around the true path while rolls follow the turn; clips round-trip through
clip_files and the tool."""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data

from p4d_jax.data import clip_files
from p4d_jax.data import clip_sources
from p4d_jax.data.faces import head_pose
from p4d_jax.data.faces import landmarks
from p4d_jax.data.faces import one_euro
from p4d_jax.data.faces import preprocess
from p4d_jax.media import image_io
from p4d_jax.media import video_io
from p4d_jax.user_errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
FRAMES, FPS = 30, 25.0
PAN, TURN = 1.5, 0.4    # pixels and degrees per frame


def test_one_euro_closed_forms():
  fps, cutoff = 30.0, 2.0
  alpha = 1.0 / (1.0 + fps / (2 * np.pi * cutoff))
  step = np.array([0.0, 1.0, 1.0])
  out = one_euro.smooth(step, fps, min_cutoff=cutoff, beta=0.0)
  np.testing.assert_allclose(out, [0.0, alpha, alpha + alpha * (1 - alpha)])
  np.testing.assert_array_equal(one_euro.smooth(np.full(5, 3.0), fps), 3.0)
  ramp = np.arange(60.0)   # moving: a speed term lowers the lag
  lag = lambda beta: ramp[-1] - one_euro.smooth(  # noqa: E731
      ramp, fps, 1.0, beta)[-1]
  assert lag(0.1) < 0.5 * lag(0.0)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
  """An mp4 of the astronaut panning right and turning; the true path of
  every image point through the frames."""
  image = data.astronaut()
  turns = []
  frames = []
  for t in range(FRAMES):
    turn = cv2.getRotationMatrix2D((220.0, 120.0), TURN * t, 1.0)
    turn[0, 2] += PAN * t
    turns.append(turn)
    frames.append(cv2.warpAffine(image, turn, (512, 512),
                                 borderMode=cv2.BORDER_REPLICATE))
  path = str(tmp_path_factory.mktemp("video") / "turn.mp4")
  video_io.write_video(path, np.stack(frames), fps=FPS)
  return path, np.stack(turns)


def errors(centres, turns, first):
  """(jitter, drift) of crop centres [T, 2] against the first centre
  carried along the true motion: the RMS of the error's second differences
  (frame-to-frame shake) and of the error less its mean (shake plus lag)."""
  truth = np.einsum("tij,j->ti", turns, np.append(first, 1.0))
  error = centres - truth
  shake = np.diff(error, 2, axis=0)
  return (float(np.sqrt(np.mean(np.sum(shake**2, -1)))),
          float(np.sqrt(np.mean(np.sum((error - error.mean(0))**2, -1)))))


@pytest.mark.slow
def test_smoothing_steadies_the_crop_and_rolls_follow_the_turn(video):
  path, turns = video
  frames, fps = video_io.read_frames(path)
  assert frames.shape == (FRAMES, 512, 512, 3) and fps == FPS
  finder = landmarks.FaceFinder()
  raw = preprocess.process(frames, fps, 64, finder, path, smooth=False)
  smooth = preprocess.process(frames, fps, 64, finder, path)
  assert smooth["smoothed"] and not raw["smoothed"]
  first = raw["transforms"][0, :2]
  before = errors(raw["transforms"][:, :2], turns, first)
  after = errors(smooth["transforms"][:, :2], turns, first)
  print(f"crop centre jitter, drift (px): raw {before}, smoothed {after}")
  assert after[0] < 0.4 * before[0]   # measured: 2.21 -> 0.57 px
  assert after[1] < 1.0               # the pan is followed: 0.67 px
  roll = np.degrees(head_pose.yaw_pitch_roll(raw["cameras"])[:, 2])
  slope = np.polyfit(np.arange(FRAMES), roll, 1)[0]
  assert slope == pytest.approx(-TURN, abs=0.08)
  assert smooth["frames"].shape == (FRAMES, 64, 64, 3)


def test_clip_files_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
  cams = rng.normal(size=(3, 25)).astype(np.float32)
  marks = rng.normal(size=(3, 68, 2)).astype(np.float32)
  clip_files.write_clip(str(tmp_path), "a", frames, cams, marks, 25.0, "x")
  got = clip_files.read_clip(str(tmp_path), "a")
  np.testing.assert_array_equal(got["image"], frames)
  np.testing.assert_array_equal(got["camera"], cams)
  np.testing.assert_array_equal(got["landmarks"], marks)
  assert got["clip_id"] == clip_files.clip_id("a") and got["fps"] == 25.0
  os.makedirs(tmp_path / "b.tmp")   # an unfinished write is not a clip
  assert clip_files.list_clips(str(tmp_path)) == ["a"]
  clip = tmp_path / "a"   # damaged files are named
  (clip / "cameras.npy").write_bytes((clip / "cameras.npy").read_bytes()[:90])
  with pytest.raises(UserError, match=r"a/cameras\.npy: not a readable "
                     r"\.npy array"):
    clip_files.read_clip(str(tmp_path), "a")
  (clip / "clip.json").write_text('{"name": "a", "fr')
  with pytest.raises(UserError, match=r"a/clip\.json: not valid JSON"):
    clip_files.read_clip(str(tmp_path), "a")
  (clip / "clip.json").write_text('{"name": "a"}')
  with pytest.raises(UserError, match=r"a/clip\.json: not a clip's metadata"):
    clip_files.read_clip(str(tmp_path), "a")


@pytest.mark.slow
def test_preprocess_tool_feeds_the_pseudo_view_stage(video, tmp_path):
  still = tmp_path / "astronaut.png"
  image_io.write_image(str(still), data.astronaut())
  blank = tmp_path / "blank.png"
  image_io.write_image(str(blank), np.full((64, 64, 3), 90, np.uint8))
  out = tmp_path / "clips"
  env = dict(os.environ, XLA_FLAGS="")
  run = lambda *args: subprocess.run(   # noqa: E731
      [sys.executable, "tools/preprocess.py", *args, f"--out={out}",
       "--size=32"], cwd=ROOT, env=env, capture_output=True, text=True,
      check=False)
  done = run(str(still), video[0])
  assert done.returncode == 0, done.stderr[-2000:]
  lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
  assert [x["smoothed"] for x in lines] == [False, True]
  source = clip_sources.preprocessed_clips(str(out))
  assert list(source.frames) == [1, FRAMES]   # astronaut, turn
  clip = source.get(1)
  assert clip["image"].shape == (FRAMES, 32, 32, 3)
  assert clip["camera"].shape == (FRAMES, 25)
  failed = run(str(blank))
  assert failed.returncode != 0 and "blank.png: no face found" in failed.stderr
