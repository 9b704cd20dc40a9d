"""The pseudo multi-view stage: Psi3d's novel views of every clip frame.

For every frame of every clip, Psi3d (EMA weights) reconstructs the frame's
static tri-plane and renders it at K cameras drawn from Portrait4D's random
view distribution, seeded per (clip, frame). The frames, views and cameras
go to sharded TFRecords (`pseudo_view_records` is the schema):

    OUT/settings.json                       what the records were made with
    OUT/pseudo_views-00003-of-00016.tfrecord  whole clips, frames in order
    OUT/pseudo_views-00003-of-00016.json    its records, clips, size, sha256
    OUT/manifest.json                       written once every shard is done

Shards are split across processes (shard i belongs to process i % count) and
each batch of frames across this host's devices. A shard is written under a
temp name and renamed when complete, so a rerun after a kill skips finished
shards and redoes only unfinished ones, byte for byte the same (for the same
settings and device count).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from p4d_jax import dir_lock
from p4d_jax.data import clip_sources
from p4d_jax.data import pseudo_view_manifest
from p4d_jax.data import pseudo_view_records as records
from p4d_jax.data import tfrecord_io
from p4d_jax.media import atomic
from p4d_jax.media import json_file
from p4d_jax.parallel import hosts
from p4d_jax.progress import Progress
from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras
from p4d_jax.user_errors import UserError

# Each process's lock on the output directory (see _process_lock).
_LOCK = ".p4d-lock-process-"

def shard_clips(num_clips: int, num_shards: int) -> list[range]:
  """Contiguous, balanced clip ranges, one per shard."""
  if not 1 <= num_shards <= num_clips:
    raise ValueError(f"num_shards must be in [1, {num_clips}] (the number of "
                     f"clips); got {num_shards}.")
  edges = np.linspace(0, num_clips, num_shards + 1).round().astype(int)
  return [range(a, b) for a, b in zip(edges[:-1], edges[1:])]


def process_shards(num_shards: int, process_index: int,
                   process_count: int) -> list[int]:
  """The shards one process writes: every process_count-th."""
  return list(hosts.part(range(num_shards), process_index, process_count))


@functools.partial(jax.jit, static_argnames=("views", "ranges"))
def frame_cameras(seed: int, clip_ids: jax.Array, frame_indices: jax.Array,
                  views: int,
                  ranges: camera_settings.RandomViewRanges) -> jax.Array:
  """[F] clip ids and frame indices -> cam2world [F, views, 4, 4], each
  frame's draw seeded by (seed, clip id, frame index) alone."""
  base = jax.random.fold_in(jax.random.key(seed), 0)

  def one(clip, frame):
    key = jax.random.fold_in(jax.random.fold_in(base, clip), frame)
    return cameras.sample_random_views(key, views, ranges)
  return jax.vmap(one)(clip_ids.astype(jnp.uint32),
                       frame_indices.astype(jnp.uint32))


def render_key(seed: int, clip_id: int, frame_index: int) -> jax.Array:
  """The rendering key of a batch whose first frame is (clip_id,
  frame_index): it seeds the stratified sample jitter."""
  key = jax.random.fold_in(jax.random.key(seed), 1)
  return jax.random.fold_in(jax.random.fold_in(key, clip_id), frame_index)


def _to_uint8(x: jax.Array) -> jax.Array:
  """[-1, 1] -> uint8, as media.image_io.to_uint8 but in jnp: it runs inside
  the jitted render, so only uint8 leaves the devices."""
  return jnp.clip(jnp.round((x + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


class PseudoViewRenderer:
  """Psi3d's renders of batches of frames, split over this host's devices.

  `model` is a Psi3d `models.model.Model` and `params` its (EMA) parameters. Calls take
  `frames` frames at a time (padded up to a multiple of the device count)
  and give uint8 images [F, K, S, S, 3], uint8 opacity [F, K, N, N] and
  depth [F, K, N, N] as numpy.
  """

  def __init__(self, model, params, frames: int,
               devices: Sequence[jax.Device] | None = None):
    devices = list(devices or jax.local_devices())
    mesh = jax.sharding.Mesh(np.array(devices), ("data",))
    self.frames = -(-frames // len(devices)) * len(devices)
    self.image_size = model.image_size
    self.neural_resolution = model.neural_resolution
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("data"))
    self.params = jax.device_put(params, replicated)
    self._split = split

    def render(params, image, c2w, intrinsics, key):
      f, k = c2w.shape[:2]
      image = image.astype(jnp.float32) / 127.5 - 1.0   # to_float, in jnp
      out = model.render_views(params, image, c2w, intrinsics, key)
      n, s = self.neural_resolution, self.image_size
      return dict(image=_to_uint8(out["image"]).reshape(f, k, s, s, 3),
                  mask=_to_uint8(out["mask"]).reshape(f, k, n, n),
                  depth=out["depth"].reshape(f, k, n, n))
    self._render = jax.jit(render, in_shardings=(replicated, split, split,
                                                  split, replicated),
                           out_shardings=split)

  def __call__(self, image: np.ndarray, c2w: np.ndarray,
               intrinsics: np.ndarray, key: jax.Array,
               clip_ids: np.ndarray | None = None,
               frame_indices: np.ndarray | None = None) -> dict:
    """image uint8 [F, S, S, 3], c2w [F, K, 4, 4], intrinsics [F, K, 3, 3]
    with F <= self.frames; the frames' clip ids and indices [F] are unused
    (they are what `exact_views.ExactViewRenderer` renders from)."""
    del clip_ids, frame_indices
    count = len(image)
    pad = lambda x: np.concatenate(   # noqa: E731  repeat the last frame
        [x, np.repeat(x[-1:], self.frames - count, axis=0)])
    out = self._render(self.params, pad(image), pad(c2w), pad(intrinsics),
                       key)
    return {k: np.asarray(v)[:count] for k, v in out.items()}


@dataclasses.dataclass(frozen=True)
class Settings:
  """Everything that decides the records' bytes (saved as settings.json)."""
  checkpoint: str
  checkpoint_step: int
  clips: str                 # the clip source's name
  num_clips: int
  views: int
  ranges: camera_settings.RandomViewRanges
  seed: int
  num_shards: int
  frames_per_batch: int
  store_masks: bool
  store_depth: bool
  # Clips without masks (real video) get Psi3d's opacity at the frame's own
  # camera as `frame_mask`: one more view per frame, upsampled to the frame.
  render_frame_masks: bool = False

  def to_json(self) -> dict:
    d = dataclasses.asdict(self)
    d["ranges"] = {k: list(v) for k, v in d["ranges"].items()}
    return dict(schema_version=records.SCHEMA_VERSION, **d)


def write_json(path: str, value: dict) -> None:
  """Atomically, keys sorted (the same content gives the same bytes)."""
  atomic.write_json(path, value, indent=1, sort_keys=True)


def _check_settings(out_dir: str, settings: Settings) -> None:
  """Records settings.json, or refuses a directory made with others."""
  path = os.path.join(out_dir, records.SETTINGS)
  want = settings.to_json()
  if os.path.exists(path):
    have = json_file.read(path, "delete it and rerun to redo the directory.")
    changed = sorted(k for k in set(have) | set(want)
                     if have.get(k) != want.get(k))
    if changed:
      raise UserError(
          f"{out_dir} holds pseudo views made with other settings "
          f"({', '.join(changed)} differ; see {path}). Write to another "
          "directory, or delete this one to redo it.")
    return
  write_json(path, want)


def _shard_summary(path: str) -> dict:
  """A finished shard's sidecar content, read back from the shard (CRCs
  checked, so a shard damaged since is caught here)."""
  clips: list[list[int]] = []
  count = 0
  for offset, data in tfrecord_io.read_records(path):
    clip_id, _, _ = records.clip_key(data, f"{path}@{offset}")
    if not clips or clips[-1][0] != clip_id:
      clips.append([clip_id, 0])
    clips[-1][1] += 1
    count += 1
  return dict(file=os.path.basename(path), records=count,
              bytes=os.path.getsize(path),
              sha256=pseudo_view_manifest.sha256(path),
              clips=clips)


def _upsample_masks(masks: np.ndarray, size: int) -> np.ndarray:
  """uint8 [F, N, N] -> uint8 [F, size, size], bilinearly."""
  up = jax.image.resize(jnp.asarray(masks, jnp.float32),
                        (len(masks), size, size), "linear")
  return np.asarray(jnp.clip(jnp.round(up), 0, 255).astype(jnp.uint8))


def _frame_batches(clip_range: range, get_clip: Callable[[int], dict],
                   batch: int):
  """Batches of (clip, frame index) over the range's frames, in order."""
  pending = []
  for i in clip_range:
    clip = get_clip(i)
    for t in range(len(clip["image"])):
      pending.append((clip, t))
      if len(pending) == batch:
        yield pending
        pending = []
  if pending:
    yield pending


def _write_shard(path: str, clip_range: range, get_clip, renderer,
                 settings: Settings, on_batch: Callable[[int], None]) -> None:
  writer = tfrecord_io.TFRecordWriter(path)
  try:
    for batch in _frame_batches(clip_range, get_clip,
                                settings.frames_per_batch):
      clip_ids = np.array([c["clip_id"] for c, _ in batch])
      frames = np.array([t for _, t in batch])
      labels = np.stack([c["camera"][t] for c, t in batch])
      _, intr = cameras.unpack_label(labels)
      c2w = frame_cameras(settings.seed, clip_ids, frames, settings.views,
                          settings.ranges)
      own = cameras.unpack_label(labels)[0][:, None]
      render_c2w = (np.concatenate([c2w, own], axis=1)
                    if settings.render_frame_masks else c2w)
      key = render_key(settings.seed, clip_ids[0], frames[0])
      out = renderer(np.stack([c["image"][t] for c, t in batch]),
                     np.asarray(render_c2w, np.float32),
                     np.repeat(np.asarray(intr, np.float32)[:, None],
                               render_c2w.shape[1], axis=1), key,
                     clip_ids, frames)
      frame_masks = ([c["mask"][t] for c, t in batch] if "mask" in batch[0][0]
                     else [None] * len(batch))
      if settings.render_frame_masks:
        frame_masks = _upsample_masks(out["mask"][:, -1],
                                      batch[0][0]["image"].shape[1])
        out = {k: v[:, :-1] for k, v in out.items()}
      view_labels = np.asarray(cameras.pack_label(
          c2w, np.broadcast_to(np.asarray(intr)[:, None],
                               (*c2w.shape[:2], 3, 3))))
      for j, (clip, t) in enumerate(batch):
        writer.write(records.encode(
            clip_id=clip["clip_id"], clip_name=clip["clip_name"],
            frame_index=t, num_frames=len(clip["image"]),
            frame_image=clip["image"][t], frame_camera=clip["camera"][t],
            frame_mask=frame_masks[j],
            view_image=out["image"][j], view_camera=view_labels[j],
            view_mask=out["mask"][j] if settings.store_masks else None,
            view_depth=out["depth"][j] if settings.store_depth else None,
            frame_expression=(clip["expression"][t] if "expression" in clip
                              else None)))
      on_batch(len(batch))
    writer.commit()
  except BaseException:
    writer.abort()
    raise


@contextlib.contextmanager
def _process_lock(out_dir: str, num_shards: int, process_index: int,
                  process_count: int):
  """Locks out_dir for this process's shards: refused while a live process
  writes any of them (processes splitting the shards run side by side)."""
  mine = set(process_shards(num_shards, process_index, process_count))
  name = f"{_LOCK}{process_index}-of-{process_count}"
  with dir_lock.DirLock(out_dir, name, what="pseudo-view process",
                        info=dict(process_index=process_index,
                                  process_count=process_count)) as lock:
    for other in dir_lock.holders(out_dir, _LOCK):
      info = other.info
      theirs = (set(process_shards(num_shards, info["process_index"],
                                   info["process_count"]))
                if "process_count" in info else mine)
      if other.path != lock.path and mine & theirs:
        raise UserError(
            f"{out_dir} is in use by another pseudo-view process writing "
            f"shards {sorted(mine & theirs)}: {other.describe()}. Wait for "
            "it, or give each process its own --process_index.")
    yield


def run(source: clip_sources.ClipSource, renderer: PseudoViewRenderer,
        settings: Settings, out_dir: str, process_index: int = 0,
        process_count: int = 1) -> dict:
  """Writes this process's unfinished shards; the manifest once all exist.
  Returns a summary: shards written and skipped, frames, seconds."""
  if (source.name, len(source.frames)) != (settings.clips,
                                           settings.num_clips):
    raise ValueError(f"Settings are for {settings.num_clips} clips of "
                     f"{settings.clips}, the source is {len(source.frames)} "
                     f"of {source.name}.")
  with _process_lock(out_dir, settings.num_shards, process_index,
                     process_count):
    _check_settings(out_dir, settings)
    return _write_shards(source, renderer, settings, out_dir, process_index,
                         process_count)


def _write_shards(source: clip_sources.ClipSource,
                  renderer: PseudoViewRenderer, settings: Settings,
                  out_dir: str, process_index: int,
                  process_count: int) -> dict:
  plan = shard_clips(settings.num_clips, settings.num_shards)
  mine = process_shards(settings.num_shards, process_index, process_count)
  path = lambda i: os.path.join(   # noqa: E731
      out_dir, records.shard_name(i, settings.num_shards))
  todo = [i for i in mine if not os.path.exists(path(i))]
  frames = sum(source.frames[c] for i in todo for c in plan[i])
  batch = settings.frames_per_batch   # about 50 progress lines per run
  progress = Progress(max(frames, 1), "pseudo-views frames",
                      every=batch * max(1, frames // (50 * batch)))
  done = 0
  start = time.time()

  def on_batch(count):
    nonlocal done
    done += count
    progress.update(done)

  for i in todo:
    _write_shard(path(i), plan[i], source.get, renderer, settings, on_batch)
    write_json(path(i)[:-len(".tfrecord")] + ".json", _shard_summary(path(i)))
  seconds = time.time() - start
  for i in mine:   # a kill between a shard's rename and its sidecar
    sidecar = path(i)[:-len(".tfrecord")] + ".json"
    if not os.path.exists(sidecar):
      write_json(sidecar, _shard_summary(path(i)))
  manifest = write_manifest(out_dir, settings)
  return dict(shards_written=len(todo), shards_skipped=len(mine) - len(todo),
              frames=frames, seconds=seconds,
              frames_per_second=frames / seconds if frames else None,
              manifest=manifest)


def write_manifest(out_dir: str, settings: Settings) -> str | None:
  """manifest.json once every shard and its sidecar exist (else None: other
  processes are still writing). Any process may write it; all would write
  the same bytes."""
  shards = []
  for i in range(settings.num_shards):
    sidecar = os.path.join(
        out_dir, records.shard_name(i, settings.num_shards)[:-len(".tfrecord")] +
        ".json")
    if not os.path.exists(sidecar):
      return None
    shards.append(json_file.read(sidecar, "delete it; rerunning the stage "
                                 "rewrites it."))
  path = os.path.join(out_dir, records.MANIFEST)
  write_json(path, dict(
      settings=settings.to_json(), shards=shards,
      records=sum(s["records"] for s in shards),
      clips=sum(len(s["clips"]) for s in shards)))
  return path
