"""grain input over the pseudo multi-view TFRecords, one element per clip.

    ds = pseudo_view_reader.clips(OUT, seed=0)       # endless, shuffled
    clip = next(iter(ds))
    clip["view_image"]     # uint8 [T, K, S, S, 3]: Psi3d's pseudo views

The directory is checked against its manifest when opened (sizes and record
counts, `pseudo_view_manifest.load`). Each host reads its own shards (every
process_count-th of the manifest's), interleaved `cycle_length` at a time in
a per-epoch shuffled order, then shuffled again in a window of clips. Every
record's CRCs are checked: a bad record raises an error naming the file and
byte offset, or, with `skip_corrupt=True`, is dropped and counted in the
clip's `skipped_records` (sum it into the training metrics). A shard that
yields nothing is an error, so an endless reader never waits forever. The
iterator's state is each open shard's byte offset, so grain checkpoints it
with the train state.

A clip element holds its frames' fields stacked over T (see
`pseudo_view_records.decode` for the names): `frame_image` [T, S, S, 3],
`frame_camera` [T, 25], `frame_index` [T], `view_image` [T, K, S, S, 3],
`view_camera` [T, K, 25], optional `frame_mask`, `view_mask`, `view_depth`,
plus `clip_id`, `clip_name` and `skipped_records`. T is the clip's length
unless a corrupt record was skipped.
"""

from __future__ import annotations

import os

import grain
import jax
import numpy as np

from p4d_jax.data import pseudo_view_manifest
from p4d_jax.data import pseudo_view_records as records
from p4d_jax.data import tfrecord_io
from p4d_jax.parallel import hosts
from p4d_jax.user_errors import UserError


class _ClipIterator(grain.DatasetIterator):
  """Whole clips from one shard; the state is the next record's offset. A
  shard that yields no clip from its start is an error (an endless reader
  over such shards would wait forever)."""

  def __init__(self, path: str, skip_corrupt: bool):
    super().__init__()
    self._reader = tfrecord_io.RecordReader(path, skip_corrupt)
    self._yielded = False

  def __next__(self) -> dict:
    reader = self._reader
    skipped = reader.skipped
    found = []
    while (item := reader.next()) is not None:
      offset, data = item
      clip_id, _, num_frames = records.clip_key(
          data, f"{reader.path}@{offset}")
      if found and clip_id != found[0][0]:
        reader.seek(offset)   # the next clip's first record: unread
        break
      found.append((clip_id, offset, data))
      if len(found) == num_frames:
        break
    if not found:
      if not self._yielded:
        raise UserError(
            f"{reader.path}: no readable records ({reader.size} bytes, "
            f"{reader.skipped} corrupt record(s) skipped); delete it and its "
            ".json and rerun tools/precompute_pseudo_views.py to redo it.")
      raise StopIteration
    self._yielded = True
    return dict(path=reader.path, offsets=[o for _, o, _ in found],
                data=[d for _, _, d in found],
                skipped_records=reader.skipped - skipped)

  def get_state(self) -> dict:
    return dict(offset=self._reader.tell())

  def set_state(self, state: dict) -> None:
    self._reader.seek(state["offset"])
    self._yielded = state["offset"] > 0

  def __del__(self):
    if hasattr(self, "_reader"):
      self._reader.close()


class ClipShard(grain.IterDataset):
  """One shard's clips, undecoded: `data` (the records' bytes), `offsets`,
  `path`, `skipped_records`."""

  def __init__(self, path: str, skip_corrupt: bool = False):
    super().__init__()
    self.path = path
    self.skip_corrupt = skip_corrupt

  def __iter__(self) -> _ClipIterator:
    return _ClipIterator(self.path, self.skip_corrupt)


def decode_clip(raw: dict) -> dict:
  """A `ClipShard` element -> its frames decoded and stacked."""
  frames = [records.decode(d, f"{raw['path']}@{o}")
            for o, d in zip(raw["offsets"], raw["data"])]
  out = {k: np.stack([f[k] for f in frames]) for k in frames[0]
         if k not in ("clip_id", "clip_name", "num_frames")}
  out.update(clip_id=frames[0]["clip_id"], clip_name=frames[0]["clip_name"],
             skipped_records=np.int64(raw["skipped_records"]))
  return out


def host_shards(directory: str, manifest: dict, process_index: int,
                process_count: int) -> list[str]:
  """This process's shard files."""
  files = [os.path.join(directory, s["file"]) for s in manifest["shards"]]
  if len(files) < process_count:
    raise UserError(
        f"{directory} has {len(files)} shards for {process_count} processes;"
        " every process needs one. Regenerate with --config.num_shards >= "
        f"{process_count}.")
  return hosts.part(files, process_index, process_count)


def clips(directory: str, seed: int, *, epochs: int | None = None,
          cycle_length: int = 4, shuffle_window: int = 16,
          skip_corrupt: bool = False, process_index: int | None = None,
          process_count: int | None = None) -> grain.IterDataset:
  """Decoded clips of this host's shards; `epochs` None repeats forever
  (each epoch in a new shard order). `shuffle_window` 1 keeps the
  interleaved order."""
  manifest = pseudo_view_manifest.load(directory)
  index = jax.process_index() if process_index is None else process_index
  count = jax.process_count() if process_count is None else process_count
  files = host_shards(directory, manifest, index, count)
  shards = grain.MapDataset.source(files).shuffle(seed=seed).repeat(epochs)
  shards = shards.map(lambda path: ClipShard(path, skip_corrupt))
  ds = grain.experimental.InterleaveIterDataset(
      shards, cycle_length=min(cycle_length, len(files)))
  if shuffle_window > 1:
    ds = grain.experimental.WindowShuffleIterDataset(
        ds, window_size=shuffle_window, seed=seed)
  return ds.map(decode_clip)
