"""The pseudo multi-view stage and its reader, on SynthHeads `clips/tiny`
(6 clips x 8 frames, 32^2) through a small random Psi3d on 8 devices:
every frame once with its own pixels and per-frame seeded cameras, views that
are Psi3d's renders, byte-identical reruns (also after a crash mid-shard and
across a split over processes), one writer per shard, a manifest checked
against its shards, and a reader that resumes exactly, reports damage and
never waits forever on empty shards."""

import hashlib
import json
import os
import pathlib

import jax
import numpy as np
import pytest

from p4d_jax import dir_lock
from p4d_jax.data import pseudo_view_manifest
from p4d_jax.data import pseudo_view_reader
from p4d_jax.data import pseudo_view_records as records
from p4d_jax.data import clip_sources
from p4d_jax.stages import pseudo_views
from p4d_jax.data import tfrecord_io
from p4d_jax.media import image_io
from p4d_jax.rendering import cameras
from p4d_jax.train import checkpoint
from p4d_jax.user_errors import UserError

CLIPS, FRAMES, VIEWS, SHARDS = 6, 8, 2, 3


@pytest.fixture(scope="module")
def stage(pseudo_views_tiny):
  """(source, renderer, settings, task, params, a finished run's dir)."""
  return pseudo_views_tiny


def shard_files(directory):
  return sorted(p for p in os.listdir(directory) if p.endswith(".tfrecord"))


def digests(directory):
  return {p: hashlib.sha256(pathlib.Path(directory, p).read_bytes()).digest()
          for p in shard_files(directory)}


def all_frames(directory):
  out = []
  for name in shard_files(directory):
    path = os.path.join(directory, name)
    out += [records.decode(d) for _, d in tfrecord_io.read_records(path)]
  return out


def test_every_frame_once_with_its_pixels_and_per_frame_cameras(stage):
  source, _, settings, _, _, out = stage
  frames = all_frames(out)
  keys = [(int(f["clip_id"]), int(f["frame_index"])) for f in frames]
  clips = [source.get(i) for i in range(CLIPS)]
  assert sorted(keys) == sorted((c["clip_id"], t) for c in clips
                                for t in range(FRAMES))
  by_id = {c["clip_id"]: c for c in clips}
  for f in frames[::7]:
    clip, t = by_id[int(f["clip_id"])], int(f["frame_index"])
    np.testing.assert_array_equal(f["frame_image"], clip["image"][t])
    np.testing.assert_array_equal(f["frame_mask"], clip["mask"][t])
    # A frame's cameras depend on (seed, clip, frame) alone, not on batching.
    alone = pseudo_views.frame_cameras(settings.seed, np.array([f["clip_id"]]),
                                       np.array([t]), VIEWS, settings.ranges)
    c2w, intr = cameras.unpack_label(f["view_camera"])
    np.testing.assert_allclose(c2w, alone[0], atol=1e-6)
    _, frame_intr = cameras.unpack_label(clip["camera"][t])
    np.testing.assert_array_equal(intr, np.broadcast_to(frame_intr, intr.shape))
  # ... and differ between every two frames (clips share frame indices).
  poses = np.stack([f["view_camera"] for f in frames]).reshape(48, -1)
  assert len(np.unique(poses.round(5), axis=0)) == 48
  manifest = pseudo_view_manifest.load(out)
  assert manifest["records"] == 48 and manifest["clips"] == CLIPS
  assert [s["file"] for s in manifest["shards"]] == shard_files(out)


def test_views_are_psi3d_renders_of_the_frame(stage):
  _, renderer, settings, task, params, out = stage
  first = all_frames(out)[:8]   # shard 0's first batch
  key = pseudo_views.render_key(settings.seed, first[0]["clip_id"],
                                first[0]["frame_index"])
  c2w, intr = cameras.unpack_label(np.stack([f["view_camera"] for f in first]))
  images = np.stack([f["frame_image"] for f in first])
  got = jax.jit(task.model.render_views)(params, image_io.to_float(images),
                    np.asarray(c2w), np.asarray(intr), key)
  want = image_io.to_uint8(got["image"])
  stored = np.stack([f["view_image"] for f in first]).reshape(want.shape)
  # Same inputs and key; the 8-device split may move a rounding boundary.
  assert np.mean(np.abs(stored.astype(float) - want)) < 0.05
  depth = np.asarray(got["depth"]).reshape(8, VIEWS, 16, 16)
  np.testing.assert_allclose(np.stack([f["view_depth"] for f in first]),
                             depth, rtol=1e-4, atol=1e-4)
  # The match is specific: against the other view's render it fails.
  swapped = want.reshape(8, VIEWS, 32, 32, 3)[:, ::-1].reshape(want.shape)
  assert np.mean(np.abs(stored.astype(float) - swapped)) > 0.3


def test_clips_without_masks_get_psi3d_opacity_at_their_own_camera(
    stage, tmp_path):
  """Real video has no masks: the frame mask is Psi3d's opacity rendered at
  the frame's own camera (one extra view), upsampled to the frame."""
  source, renderer, settings, task, params, _ = stage
  get = lambda i: {k: v for k, v in source.get(i).items()  # noqa: E731
                   if k != "mask"}
  unmasked = clip_sources.ClipSource("unmasked", source.frames[:1], get)
  mine = pseudo_views.Settings(**{**settings.__dict__, "clips": "unmasked",
                                  "num_clips": 1, "num_shards": 1,
                                  "render_frame_masks": True})
  pseudo_views.run(unmasked, renderer, mine, str(tmp_path))
  frames = all_frames(tmp_path)
  assert len(frames) == FRAMES
  assert frames[0]["view_image"].shape[0] == VIEWS   # the extra view is not one
  key = pseudo_views.render_key(mine.seed, frames[0]["clip_id"], 0)
  views, _ = cameras.unpack_label(np.stack([f["view_camera"] for f in frames]))
  own, intr = cameras.unpack_label(np.stack([f["frame_camera"]
                                             for f in frames]))
  c2w = np.concatenate([np.asarray(views), np.asarray(own)[:, None]], axis=1)
  images = np.stack([f["frame_image"] for f in frames])
  got = jax.jit(task.model.render_views)(params, image_io.to_float(images),
                             c2w, np.repeat(np.asarray(intr)[:, None],
                                            VIEWS + 1, axis=1), key)
  opacity = np.asarray(got["mask"]).reshape(FRAMES, VIEWS + 1, 16, 16)
  want = jax.image.resize((opacity[:, -1] + 1.0) * 127.5, (FRAMES, 32, 32),
                          "linear")
  stored = np.stack([f["frame_mask"] for f in frames]).astype(float)
  assert np.mean(np.abs(stored - np.asarray(want))) < 0.6
  # ... and it is that view's opacity, not another's.
  other = jax.image.resize((opacity[:, 0] + 1.0) * 127.5, (FRAMES, 32, 32),
                           "linear")
  assert np.mean(np.abs(stored - np.asarray(other))) > 3.0


def test_rerun_and_crash_mid_shard_give_identical_bytes(stage, tmp_path,
                                                        monkeypatch):
  source, renderer, settings, _, _, out = stage
  written = []
  real_write = tfrecord_io.TFRecordWriter.write

  def dying_write(self, data):   # a kill -9 in shard 1, after 5 records
    if self.path.endswith("00001-of-00003.tfrecord") and self.records == 5:
      raise KeyboardInterrupt
    written.append(self.path)
    real_write(self, data)
  monkeypatch.setattr(tfrecord_io.TFRecordWriter, "write", dying_write)
  monkeypatch.setattr(tfrecord_io.TFRecordWriter, "abort", lambda self: None)
  with pytest.raises(KeyboardInterrupt):
    pseudo_views.run(source, renderer, settings, str(tmp_path))
  monkeypatch.undo()
  assert shard_files(tmp_path) == [records.shard_name(0, SHARDS)]
  assert (tmp_path / (records.shard_name(1, SHARDS) + ".tmp")).exists()
  assert not (tmp_path / records.MANIFEST).exists()
  summary = pseudo_views.run(source, renderer, settings, str(tmp_path))
  assert (summary["shards_skipped"], summary["shards_written"]) == (1, 2)
  assert digests(tmp_path) == digests(out)
  assert (tmp_path / records.MANIFEST).read_bytes() == pathlib.Path(
      out, records.MANIFEST).read_bytes()
  again = pseudo_views.run(source, renderer, settings, str(tmp_path))
  assert (again["shards_skipped"], again["shards_written"]) == (SHARDS, 0)


def test_split_over_processes_covers_every_frame_once(stage, tmp_path):
  source, renderer, settings, _, _, out = stage
  first = pseudo_views.run(source, renderer, settings, str(tmp_path), 0, 2)
  assert first["manifest"] is None and first["shards_written"] == 2
  second = pseudo_views.run(source, renderer, settings, str(tmp_path), 1, 2)
  assert second["manifest"] and second["shards_written"] == 1
  assert digests(tmp_path) == digests(out)
  for count in range(1, 6):
    mine = [pseudo_views.process_shards(7, i, count) for i in range(count)]
    assert sorted(sum(mine, [])) == list(range(7))
  ranges = pseudo_views.shard_clips(10, 4)
  assert [c for r in ranges for c in r] == list(range(10))
  with pytest.raises(ValueError, match="num_shards must be in"):
    pseudo_views.shard_clips(3, 4)


def test_other_settings_into_the_same_directory_are_refused(stage):
  source, renderer, settings, _, _, out = stage
  other = pseudo_views.Settings(**{**settings.__dict__, "views": 3})
  with pytest.raises(ValueError, match="other settings .views differ"):
    pseudo_views.run(source, renderer, other, out)


def test_reader_gives_each_clip_once_per_epoch_split_over_hosts(stage):
  out = stage[-1]
  seen = []
  for index in range(2):
    ds = pseudo_view_reader.clips(out, seed=1, epochs=1, process_index=index,
                                  process_count=2)
    for clip in ds:
      assert clip["view_image"].shape == (FRAMES, VIEWS, 32, 32, 3)
      assert list(clip["frame_index"]) == list(range(FRAMES))
      assert clip["skipped_records"] == 0
      seen.append(int(clip["clip_id"]))
  assert sorted(seen) == sorted(stage[0].get(i)["clip_id"]
                                for i in range(CLIPS))
  with pytest.raises(ValueError, match="3 shards for 4 processes"):
    pseudo_view_reader.clips(out, 0, process_index=0, process_count=4)


def test_reader_resumes_exactly_from_a_checkpoint(stage, tmp_path):
  out = stage[-1]
  make = lambda: iter(pseudo_view_reader.clips(   # noqa: E731
      out, seed=2, cycle_length=2, shuffle_window=3))
  it = make()
  for _ in range(4):
    next(it)
  # The train loop's checkpointer saves the iterator next to the state.
  ckpt = checkpoint.Checkpointer(str(tmp_path))
  ckpt.save(4, {"step": np.int32(4)}, it)
  ckpt.wait()
  want = [int(next(it)["clip_id"]) for _ in range(8)]   # crosses an epoch
  resumed = make()
  ckpt.restore({"step": jax.ShapeDtypeStruct((), np.int32)}, resumed)
  ckpt.close()
  assert [int(next(resumed)["clip_id"]) for _ in range(8)] == want


def copy_stage(out, directory):
  """A copy of the finished stage's files (to damage)."""
  directory.mkdir(exist_ok=True)
  for name in os.listdir(out):
    if name.endswith((".tfrecord", ".json")):
      (directory / name).write_bytes(pathlib.Path(out, name).read_bytes())
  return directory


def test_reader_reports_or_skips_a_damaged_record(stage, tmp_path):
  copy_stage(stage[-1], tmp_path)
  shard = tmp_path / records.shard_name(1, SHARDS)
  offsets = [o for o, _ in tfrecord_io.read_records(str(shard))]
  data = bytearray(shard.read_bytes())
  data[offsets[3] + 200] ^= 0x10
  shard.write_bytes(bytes(data))
  ds = pseudo_view_reader.clips(str(tmp_path), 0, epochs=1, shuffle_window=1)
  with pytest.raises(tfrecord_io.CorruptRecordError,
                     match=f"{shard.name}: corrupt TFRecord at byte offset "
                     f"{offsets[3]}"):
    list(ds)
  ds = pseudo_view_reader.clips(str(tmp_path), 0, epochs=1, shuffle_window=1,
                                skip_corrupt=True)
  clips = list(ds)
  assert sum(int(c["skipped_records"]) for c in clips) == 1
  assert sorted(len(c["frame_index"]) for c in clips) == [7] + [8] * 5


def test_reader_explains_a_missing_or_unfinished_directory(tmp_path):
  with pytest.raises(UserError, match="no pseudo views were written"):
    pseudo_view_manifest.load(str(tmp_path))
  (tmp_path / records.SETTINGS).write_text("{}")
  with pytest.raises(UserError, match="has not finished"):
    pseudo_view_manifest.load(str(tmp_path))


def test_the_manifest_is_checked_against_the_shards(stage, tmp_path):
  """Each damage named at open (sizes, record counts, the shard list, the
  totals), and a same-size change by `verify`'s sha256."""
  out = stage[-1]
  shard = records.shard_name(1, SHARDS)
  summary = pseudo_view_manifest.verify(out)
  assert (summary["shards"], summary["records"]) == (SHARDS, 48)

  empty = copy_stage(out, tmp_path / "empty")
  (empty / shard).write_bytes(b"")
  with pytest.raises(UserError, match=f"{shard}: 0 bytes, the manifest "
                     "says"):
    pseudo_view_reader.clips(str(empty), 0)

  cut = copy_stage(out, tmp_path / "cut")   # a manifest listing 1 of 3
  manifest = json.loads((cut / records.MANIFEST).read_text())
  (cut / records.MANIFEST).write_text(json.dumps(
      dict(manifest, shards=manifest["shards"][:1])))
  with pytest.raises(UserError, match="lists 1 shard.s., its settings make 3"):
    pseudo_view_manifest.load(str(cut))
  (cut / records.MANIFEST).write_text(json.dumps(manifest)[:100])
  with pytest.raises(UserError, match="manifest.json: not valid JSON"):
    pseudo_view_manifest.load(str(cut))
  (cut / records.MANIFEST).write_text(json.dumps(dict(manifest, records=47)))
  with pytest.raises(UserError, match="states 47 records and 6 clips, its "
                     "shards hold 48 and 6"):
    pseudo_view_manifest.load(str(cut))

  foreign = copy_stage(out, tmp_path / "foreign")
  (foreign / records.shard_name(0, 2)).write_bytes(b"")
  with pytest.raises(UserError, match="does not list.*00000-of-00002"):
    pseudo_view_manifest.load(str(foreign))

  flipped = copy_stage(out, tmp_path / "flipped")   # same size and framing
  data = bytearray((flipped / shard).read_bytes())
  data[-10] ^= 1
  (flipped / shard).write_bytes(bytes(data))
  pseudo_view_manifest.load(str(flipped))
  with pytest.raises(UserError, match=f"{shard}: its sha256 differs"):
    pseudo_view_manifest.verify(str(flipped))


def test_a_shard_that_yields_nothing_is_an_error(stage, tmp_path):
  """All shards emptied and the manifest made to agree: the endless reader
  refuses at open, and a shard read alone ends with an error, not a hang."""
  out = copy_stage(stage[-1], tmp_path)
  manifest = json.loads((out / records.MANIFEST).read_text())
  for entry in manifest["shards"]:
    (out / entry["file"]).write_bytes(b"")
    entry.update(bytes=0, records=0, clips=[])
  (out / records.MANIFEST).write_text(json.dumps(
      dict(manifest, records=0, clips=0)))
  with pytest.raises(UserError, match="the shards hold no records"):
    pseudo_view_reader.clips(str(out), 0)
  empty = str(out / manifest["shards"][0]["file"])
  with pytest.raises(UserError, match="no readable records"):
    next(iter(pseudo_view_reader.ClipShard(empty)))
  broken = out / "broken.tfrecord"   # every record corrupt, skipped
  broken.write_bytes(b"\x05" * 40)
  with pytest.raises(UserError, match="1 corrupt record.s. skipped"):
    next(iter(pseudo_view_reader.ClipShard(str(broken), skip_corrupt=True)))


def test_a_second_writer_of_the_same_shards_is_refused(stage, tmp_path):
  """Processes splitting the shards work side by side; one overlapping a
  live one is refused, naming it."""
  source, renderer, settings, _, _, _ = stage
  other = dir_lock.DirLock(str(tmp_path), ".p4d-lock-process-0-of-2",
                           info=dict(process_index=0, process_count=2))
  with other:
    done = pseudo_views.run(source, renderer, settings, str(tmp_path), 1, 2)
    assert done["shards_written"] == 1
    with pytest.raises(UserError, match=r"in use by another pseudo-view "
                       rf"process writing shards \[0, 2\]: pid {os.getpid()}"):
      pseudo_views.run(source, renderer, settings, str(tmp_path), 0, 1)
  assert not [n for n in os.listdir(tmp_path) if n.startswith(".p4d-lock")]
