"""The avatar's cached-source path renders what Psi's full forward renders,
and reenact.py turns a run and two inputs into its videos and meshes."""

import json
import os
import types

import jax
import numpy as np
import pytest

import configs
from p4d_jax import user_errors
from p4d_jax.inference import avatar as avatar_lib
from p4d_jax.inference import media
from p4d_jax.inference import mesh
from p4d_jax.rendering import cameras
from p4d_jax.tasks import runs
from tools import reenact

FRAMES = 3


@pytest.fixture(scope="module")
def avatar(psi4d_small_run):
  run = runs.load_run(psi4d_small_run[0], defaults=configs.preset)
  return avatar_lib.Avatar(run.model, run.params)


def frames(seed, count=FRAMES):
  return np.random.default_rng(seed).uniform(
      -1, 1, (count, 32, 32, 3)).astype(np.float32)


def test_source_once_then_frames_equals_the_full_forward(avatar):
  source, driving = frames(0, 1)[0], frames(1)
  labels = np.stack([avatar_lib.view_label(y) for y in (-0.4, 0.0, 0.3)])
  got = avatar.render(avatar.prepare(source), driving, labels)
  c2w, intr = cameras.unpack_label(labels)
  model = avatar.model

  @jax.jit
  def full_forward(params, sources, driving):
    return model.render_views(params, sources, c2w[:, None], intr[:, None],
                              jax.random.key(0),
                              model.motion_code(params, sources),
                              model.motion_code(params, driving))
  want = full_forward(avatar.params, np.repeat(source[None], FRAMES, 0),
                      driving)
  np.testing.assert_allclose(got["image"], want["image"], atol=2e-5)
  np.testing.assert_allclose(got["depth"], want["depth"], atol=2e-5)
  # The driver matters (the EMA's cross-attention is not zero) ...
  dark = np.full_like(driving, -0.8)   # (noise images all pool alike)
  other = avatar.render(avatar.prepare(source), dark, labels)
  assert np.abs(other["image"][0] - got["image"][0]).mean() > 1e-3
  # ... and so does the source.
  again = avatar.render(avatar.prepare(frames(2, 1)[0]), driving, labels)
  assert np.abs(again["image"] - got["image"]).mean() > 1e-3


def test_frames_an_avatar_cannot_read_are_user_errors_before_tracing():
  """An oracle Psi reads expression parameters, not frames; frames of the
  wrong size do not fit. Both are one-line errors, raised before jit."""
  oracle = types.SimpleNamespace(motion_reads="expression", image_size=32)
  av = avatar_lib.Avatar(oracle, params=None)
  labels = avatar_lib.view_label()[None]
  with pytest.raises(user_errors.UserError, match="reads 'expression'"):
    av.render({}, frames(0, 1), labels)
  with pytest.raises(user_errors.UserError, match="reads 'expression'"):
    av.prepare(frames(0, 1)[0])
  with pytest.raises(user_errors.UserError, match=r"\(16, 16, 3\); this"):
    av.motion_codes(frames(0, 1)[:, :16, :16], labels)
  with pytest.raises(user_errors.UserError, match="has no motion source"):
    avatar_lib.Avatar(types.SimpleNamespace(motion_reads=None), None)


def test_orbit_labels_swing_the_yaw_about_the_frontal_camera():
  labels = avatar_lib.orbit_labels(8, max_yaw=0.5)
  centres = np.asarray(cameras.camera_center(cameras.unpack_label(labels)[0]))
  frontal = centres[0]
  assert abs(frontal[0]) < 1e-5 and frontal[2] > 3.0   # in front, on axis
  # Quarter way: the largest swing; p4d yaw > 0 moves the camera to -x.
  assert centres[2, 0] < -1.5 and centres[6, 0] > 1.5
  # On the training cameras' mean sphere about the origin, aimed at the pivot.
  np.testing.assert_allclose(np.linalg.norm(centres, axis=1),
                             avatar_lib.FRONTAL["radius"], rtol=1e-5)


def test_reenact_tool_writes_videos_meshes_and_a_summary(psi4d_small_run,
                                                         tmp_path):
  import imageio.v3 as iio  # pylint: disable=import-outside-toplevel
  still = tmp_path / "source.png"
  iio.imwrite(still, np.full((48, 80, 3), 90, np.uint8))   # not square
  clip = tmp_path / "driving"
  clip.mkdir()
  for t in range(5):
    iio.imwrite(clip / f"{t:03d}.png", np.full((40, 40, 3), 40 * t, np.uint8))
  out = tmp_path / "out"
  summary = reenact.main([
      f"--workdir={psi4d_small_run[0]}", f"--source={still}",
      f"--driving={clip}", f"--out={out}", "--batch=4", "--mesh=ply",
      "--mesh_every=4", "--mesh_resolution=24",
      "--mesh_level=-0.1"])   # the random field spans about -0.24..0)
  assert summary["frames"] == 5 and summary["step"] == 3
  assert "frontal camera" in summary["source"]       # no face in a grey image
  assert summary["frames_per_s"] > 0
  side = iio.imread(out / "reenact.mp4")
  assert side.shape[:3] == (5, 32, 96)               # source | driving | result
  assert iio.imread(out / "orbit.mp4").shape[:3] == (5, 32, 32)
  assert iio.imread(out / "depth.mp4").shape[:3] == (5, 32, 32)
  assert sorted(os.listdir(out / "meshes")) == ["frame_00000.ply",
                                                "frame_00004.ply"]
  verts, faces = mesh.read_ply(str(out / "meshes" / "frame_00004.ply"))
  assert len(faces) > 0 and np.abs(verts).max() <= 0.65 + 1e-4
  assert json.loads((out / "summary.json").read_text())["frames"] == 5


@pytest.mark.slow
def test_reenact_reads_the_jaw_back_on_synthheads_clips(psi4d_small_run,
                                                        synthheads_tiny,
                                                        tmp_path):
  summary = reenact.main([
      f"--workdir={psi4d_small_run[0]}", f"--data_dir={synthheads_tiny}",
      "--source=synthheads:clips/tiny/test:0:0",
      "--driving=synthheads:clips/tiny/test:1", "--max_frames=4",
      "--batch=4", f"--out={tmp_path}", "--jaw_follow"])
  follow = summary["jaw_follow"]
  driver = media.load("synthheads:clips/tiny/test:1", 32, max_frames=4,
                      data_dir=synthheads_tiny).truth["expression"][:, 0]
  np.testing.assert_allclose(follow["driver_jaw"], driver, atol=1e-4)
  assert follow["frames"] == len(follow["result_jaw"]) == 4
  assert all(0.0 <= v <= 1.0 for v in follow["result_jaw"])
  assert np.isfinite([follow["r"], follow["slope"]]).all()
  with pytest.raises(ValueError, match="needs SynthHeads clips"):
    reenact.main([f"--workdir={psi4d_small_run[0]}", f"--out={tmp_path}",
                  f"--data_dir={synthheads_tiny}", "--jaw_follow",
                  "--source=synthheads:clips/tiny/test:0:0",
                  f"--driving={tmp_path / 'reenact.mp4'}"])


def test_reenact_explains_bad_inputs(psi4d_small_run, tmp_path):
  notes = tmp_path / "notes.txt"
  notes.write_text("not an image")
  common = [f"--workdir={psi4d_small_run[0]}", f"--out={tmp_path}"]
  with pytest.raises(ValueError, match="notes.txt"):
    reenact.main(common + [f"--source={notes}", f"--driving={notes}"])
  with pytest.raises(FileNotFoundError, match="missing.mp4 does not exist"):
    reenact.main(common + ["--source=missing.mp4", "--driving=missing.mp4"])
  with pytest.raises(FileNotFoundError, match="not a run directory"):
    reenact.main([f"--workdir={tmp_path}", "--source=a", "--driving=b"])
  with pytest.raises(ValueError, match="--jaw_follow compares"):
    reenact.main(["--avatar=a", "--driving=b", "--jaw_follow"])
