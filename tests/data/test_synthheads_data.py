"""SynthHeads data sets: builders -> ArrayRecord -> grain, checked against
re-rendering; clip motion; evaluation pairs; clear errors."""

import dataclasses
import os
import sys

import numpy as np
import pytest

from p4d_jax.data import builders
from p4d_jax.data import pipeline
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.rendering import camera_settings
from p4d_jax.media import image_io
from p4d_jax.rendering import cameras
from p4d_jax.user_errors import UserError

from tools import make_synthheads

SPEC = builders.SIZES["tiny"]


@pytest.fixture(scope="module")
def data_dir(synthheads_tiny):
  return synthheads_tiny


def _rerender(scene, world_labels):
  """Re-renders stored parameters at stored world cameras -> uint8 views."""
  c2w, intr = cameras.unpack_label(np.asarray(world_labels).reshape(-1, 25))
  n = c2w.shape[0]
  scenes = P.Scene(*(np.broadcast_to(np.asarray(f, np.float32).reshape(
      -1, f.shape[-1]), (n, f.shape[-1])) for f in scene))
  out = render.render(scenes, np.asarray(c2w), np.asarray(intr),
                      SPEC.resolution, supersample=SPEC.supersample)
  rgb = np.clip(np.rint(out["rgb"] * 255), 0, 255).astype(np.uint8)
  return rgb, out


def _head_relative_labels(world_labels, pose):
  c2w, intr = cameras.unpack_label(np.asarray(world_labels))
  rel = render.head_relative_camera(c2w, np.asarray(pose))
  return np.asarray(cameras.pack_label(rel, intr))


def test_multiview_round_trip_matches_the_renderer(data_dir):
  ds = pipeline.synthheads("multiview", "tiny", "train", data_dir)
  assert len(ds) == SPEC.identities
  seen = sorted(int(ex["identity_index"]) for ex in ds)
  assert seen == list(range(SPEC.identities))
  ex = ds[0]
  v, r = SPEC.views, SPEC.resolution
  assert ex["image"].shape == (v, r, r, 3) and ex["image"].dtype == np.uint8
  assert ex["mask"].shape == (v, r, r) and ex["depth"].shape == (v, r, r)
  ident = int(ex["identity_index"])
  np.testing.assert_array_equal(ex["identity"],
                                P.identity_params(SPEC.seed, ident))
  scene = P.Scene(ex["identity"], ex["expression"], ex["pose"],
                  ex["lighting"], ex["background"])
  rgb, out = _rerender(scene, ex["world_camera"])
  np.testing.assert_array_equal(ex["image"], rgb)
  np.testing.assert_array_equal(ex["depth"], out["depth"])
  np.testing.assert_array_equal(ex["mask"] > 0, out["mask"] > 0)
  np.testing.assert_allclose(ex["camera"], _head_relative_labels(
      ex["world_camera"], ex["pose"]), atol=1e-6)


def test_still_cameras_follow_portrait4d_random_views(data_dir):
  """Centres at radius 3.65-4.45 from the world origin, yaw within +-0.78 rad,
  optical axes through a pivot near (0, 0, 0.09); P4D focal length."""
  labels = np.concatenate([ex["camera"] for ex in pipeline.synthheads(
      "multiview", "tiny", "train", data_dir)])
  c2w, intr = (np.asarray(x) for x in cameras.unpack_label(labels))
  centers = c2w[:, :3, 3]
  ranges = camera_settings.RandomViewRanges()
  dist = np.linalg.norm(centers, axis=-1)
  assert np.all(dist >= ranges.radius[0] - 1e-4)
  assert np.all(dist <= ranges.radius[1] + 1e-4)
  yaw = np.arctan2(-centers[:, 0], centers[:, 2])   # p4d: +yaw goes to -x
  assert np.all(np.abs(yaw) < ranges.yaw[1] + 0.02)
  axis = np.asarray(cameras.viewing_direction(c2w))
  to_pivot = np.array([0.0, 0.0, 0.09]) - centers
  miss = np.linalg.norm(np.cross(axis, to_pivot), axis=-1)
  assert np.all(miss < 0.06)   # pivot spread: +-0.03 in x, y and z
  np.testing.assert_allclose(intr[:, 0, 0], cameras.P4D_FOCAL)


def test_held_out_identities_are_disjoint(data_dir):
  test = pipeline.synthheads("multiview", "tiny", "test", data_dir)
  ids = sorted(int(ex["identity_index"]) for ex in test)
  assert ids == [P.HELD_OUT_OFFSET + i for i in range(SPEC.held_out)]


def test_shuffled_reading_is_a_seeded_permutation(data_dir):
  order = lambda seed: [int(ex["identity_index"]) for ex in  # noqa: E731
                        pipeline.synthheads("multiview", "tiny", "train",
                                            data_dir, seed=seed)]
  assert order(1) == order(1)
  assert order(1) != order(2)
  assert sorted(order(1)) == list(range(SPEC.identities))


def test_clips_store_their_curves_and_head_relative_cameras(data_dir):
  ds = pipeline.synthheads("clips", "tiny", "train", data_dir)
  assert len(ds) == SPEC.clips
  ex = ds[1]
  ident = int(ex["identity_index"])
  expression, pose, world = examples.clip_curves(SPEC, ident)
  np.testing.assert_array_equal(ex["expression"], expression)
  np.testing.assert_array_equal(ex["pose"], pose)
  np.testing.assert_allclose(ex["world_camera"][:, :16],
                             world.reshape(-1, 16), atol=1e-6)
  np.testing.assert_allclose(ex["camera"], _head_relative_labels(
      ex["world_camera"], ex["pose"]), atol=1e-5)
  last = SPEC.frames - 1
  scene = P.Scene(ex["identity"], ex["expression"][last], ex["pose"][last],
                  ex["lighting"], ex["background"])
  rgb, _ = _rerender(scene, ex["world_camera"][last])
  np.testing.assert_array_equal(ex["image"][last], rgb[0])


def test_eval_pairs_have_exact_targets(data_dir):
  ds = pipeline.synthheads("eval", "tiny", "test", data_dir)
  assert len(ds) == SPEC.eval_pairs
  flags = []
  for ex in ds:
    src, drv, tgt = ex["source"], ex["driving"], ex["target"]
    cross = bool(ex["cross_identity"])
    flags.append(cross)
    assert (int(src["identity_index"]) != int(drv["identity_index"])) == cross
    assert int(src["identity_index"]) >= P.HELD_OUT_OFFSET
    np.testing.assert_array_equal(tgt["expression"], drv["expression"])
    np.testing.assert_array_equal(tgt["pose"], drv["pose"])
    np.testing.assert_array_equal(tgt["world_camera"], drv["world_camera"])
    assert ex["novel"]["image"].shape[0] == SPEC.novel_views
    if not cross:   # the source identity wearing its own frame: the frame
      np.testing.assert_array_equal(tgt["image"], drv["image"])
    # Every target is the source identity re-rendered with the driver's
    # expression and pose, at the driving and at the novel cameras.
    scene = P.Scene(src["identity"], tgt["expression"], tgt["pose"],
                    src["lighting"], src["background"])
    rgb, _ = _rerender(scene, np.concatenate(
        [tgt["world_camera"][None], ex["novel"]["world_camera"]]))
    np.testing.assert_array_equal(tgt["image"], rgb[0])
    np.testing.assert_array_equal(ex["novel"]["image"], rgb[1:])
  assert sum(flags) == SPEC.eval_pairs // 2      # half are cross-identity


def test_seen_identity_pairs_are_frames_of_the_training_clips(data_dir):
  """eval_split="train": sources and drivers are the training clips' own
  frames (what a model trained on them saw), not held-out identities."""
  spec = dataclasses.replace(SPEC, eval_split="train", eval_pairs=2,
                             novel_views=0)
  clips = {int(ex["identity_index"]): ex for ex in
           pipeline.synthheads("clips", "tiny", "train", data_dir)}
  pairs = list(examples.eval_pairs(spec, progress=False))
  assert [bool(ex["cross_identity"]) for _, ex in pairs] == [False, True]
  for _, ex in pairs:
    for who in ("source", "driving"):
      frame = ex[who]
      clip = clips[int(frame["identity_index"])]   # a training clip
      np.testing.assert_array_equal(image_io.decode_image(frame["image"], who),
                                    clip["image"][frame["frame"]])
      np.testing.assert_array_equal(frame["expression"],
                                    clip["expression"][frame["frame"]])
  with pytest.raises(UserError, match="eval_split"):
    builders.make("eval", "tiny", data_dir=data_dir, eval_split="val")


def test_rebuilding_skips_finished_sets(data_dir, capsys):
  make_synthheads.main(["--size", "tiny", "--data_dir", data_dir,
                        "--no_sheet", "--kinds", "clips"])
  assert "already built" in capsys.readouterr().out


def test_clip_motion_is_smooth_deterministic_and_in_range():
  rng = lambda: np.random.default_rng(7)  # noqa: E731
  expression, pose = motion.clip_motion(rng(), 250, 25.0)
  again, _ = motion.clip_motion(rng(), 250, 25.0)
  np.testing.assert_array_equal(expression, again)
  low = np.array([p.low for p in P.EXPRESSION])
  high = np.array([p.high for p in P.EXPRESSION])
  assert np.all(expression >= low) and np.all(expression <= high)
  r = motion.MotionRanges()
  assert np.all(np.abs(pose) <= np.array([r.yaw, r.pitch, r.roll]) + 1e-6)
  # Head motion below 0.6 Hz moves at most 2 pi f A per second.
  assert np.abs(np.diff(pose[:, 0])).max() < 2 * np.pi * 0.6 * r.yaw / 25
  blink = expression[:, P.index(P.EXPRESSION, "blink_left")]
  closures = np.sum((blink[1:] > 0.9) & (blink[:-1] <= 0.9))
  assert 2 <= closures <= 7          # 10 s at one blink per 1.5-4 s
  jaw = expression[:, P.index(P.EXPRESSION, "jaw_open")]
  assert jaw.max() > 0.3 and (jaw < 0.02).mean() > 0.1   # talks and pauses


def test_camera_track_drifts_slowly_around_one_view():
  track = motion.camera_track(np.random.default_rng(0), 32)
  centers = track[:, :3, 3]
  step = np.linalg.norm(np.diff(centers, axis=0), axis=-1)
  assert step.max() < 0.05 and np.ptp(np.linalg.norm(centers, axis=-1)) < 0.1


def test_bad_names_and_missing_sets_say_what_to_do(tmp_path):
  with pytest.raises(ValueError, match="Unknown SynthHeads data set"):
    builders.make("videos")
  with pytest.raises(ValueError, match="Unknown SynthHeads size"):
    builders.make("clips", "huge")
  with pytest.raises(ValueError, match="resolutoin"):
    builders.make("clips", "tiny", resolutoin=64)
  assert builders.make("clips", "tiny", resolution=16).builder_config.name == \
      "tiny-resolution16"
  with pytest.raises(FileNotFoundError, match="make_synthheads.py"):
    pipeline.synthheads("clips", "tiny", "train", str(tmp_path))
  with pytest.raises(UserError, match="--set wants KEY=VALUE"):
    make_synthheads.parse_args(["--set", "views"])


def test_corrupt_image_bytes_name_the_field():
  good = image_io.encode_png(np.zeros((4, 4, 3), np.uint8))
  bad = good[:20] + b"\x00" * 10
  with pytest.raises(ValueError, match=r"clips/train.image\[1\]"):
    pipeline.decode_images({"image": np.array([good, bad], dtype=object)},
                           "clips/train")


@pytest.mark.slow
def test_contact_sheet_shows_every_expression_and_view(tmp_path):
  from p4d_jax.data.synthheads import contact_sheet
  sheet = contact_sheet.contact_sheet(identities=2, resolution=32)
  cols = len(contact_sheet.EXPRESSIONS) * len(contact_sheet.YAWS)
  assert sheet.shape == (64, cols * 32, 3) and sheet.dtype == np.uint8
  tiles = sheet.reshape(2, 32, cols, 32, 3).transpose(0, 2, 1, 3, 4)
  # Every tile differs from every other tile of its row.
  flat = tiles.reshape(2, cols, -1).astype(int)
  for row in flat:
    diffs = np.abs(row[:, None] - row[None]).sum(-1)
    assert np.all(diffs[~np.eye(cols, dtype=bool)] > 0)
