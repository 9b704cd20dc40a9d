"""Psi3d's batches: one input view of a still head and views to supervise.

Each SynthHeads `multiview` example holds V views of one still head. A
training example picks, per (epoch, index) from a seeded generator, an input
view and supervises at that view plus `target_views` others:

    image          [S, S, 3]     float32 in [-1, 1]   (the input)
    target_image   [T, S, S, 3]  float32 in [-1, 1]   (T = 1 + target_views)
    target_mask    [T, S, S]     float32 in [0, 1]
    target_depth   [T, S, S]     float32, ray distance, 0 off the head
    target_c2w     [T, 4, 4]     head-relative cameras (the `camera` label)
    target_intrinsics [T, 3, 3]

Each host reads its own slice of the shuffled examples (`process_index`
of `process_count`) and makes batches of batch_size / process_count.
"""

from __future__ import annotations

import grain
import jax
import numpy as np

from p4d_jax.data import builders
from p4d_jax.data import pipeline
from p4d_jax.parallel import hosts
from p4d_jax.media import image_io
from p4d_jax.rendering import cameras


def select_views(example: dict, input_view: int, targets: np.ndarray,
                 image_size: int) -> dict:
  """The training fields for one input view and target view indices [T]."""
  size = example["image"].shape[1]
  if size != image_size:
    raise ValueError(
        f"SynthHeads images are {size}^2 but config.image_size is "
        f"{image_size}; build the data at that size (tools/make_synthheads.py "
        f"--set resolution={image_size}) or change config.image_size.")
  c2w, intr = cameras.unpack_label(np.asarray(example["camera"]))
  c2w, intr = np.asarray(c2w, np.float32), np.asarray(intr, np.float32)
  return dict(
      image=image_io.to_float(example["image"][input_view]),
      target_image=image_io.to_float(example["image"][targets]),
      target_mask=example["mask"][targets].astype(np.float32) / 255.0,
      target_depth=np.asarray(example["depth"][targets], np.float32),
      target_c2w=c2w[targets], target_intrinsics=intr[targets])


def pick_views(views: int, target_views: int,
               rng: np.random.Generator) -> tuple[int, np.ndarray]:
  """(input view, [input view, `target_views` other distinct views])."""
  if not 0 <= target_views < views:
    raise ValueError(f"data.target_views must be in [0, {views - 1}] for "
                     f"{views}-view examples; got {target_views}.")
  order = rng.permutation(views)
  return int(order[0]), order[:1 + target_views]


def host_examples(ds: grain.MapDataset, seed: int, process_index: int,
                  process_count: int) -> grain.MapDataset:
  """One epoch of this host's part of the examples in a seeded order; the
  parts of all hosts hold every example once."""
  if len(ds) < process_count:
    raise ValueError(f"{len(ds)} training examples cannot split over "
                     f"{process_count} processes.")
  return hosts.part(ds, process_index, process_count).shuffle(seed=seed)


def training_batches(data, image_size: int,
                     global_batch: int) -> grain.IterDataset:
  """Endless, reshuffled each epoch, checkpointable batches for this host."""
  count = jax.process_count()
  local_batch = hosts.local_batch_size(global_batch, count)
  ds = pipeline.synthheads(data.kind, data.size, "train",
                           builders.data_dir(data.data_dir))
  ds = host_examples(ds, data.seed, jax.process_index(), count).repeat(None)

  def example_fn(example, rng):
    first, targets = pick_views(example["image"].shape[0], data.target_views,
                                rng)
    return select_views(example, first, targets, image_size)

  # A seed per host, or every host's k-th example would pick the same views.
  ds = ds.random_map(example_fn, seed=data.seed + jax.process_index())
  ds = ds.batch(local_batch, drop_remainder=True)
  options = grain.ReadOptions(num_threads=data.worker_threads,
                              prefetch_buffer_size=4)
  return ds.to_iter_dataset(options)


def synthetic_batch(batch: int, image_size: int, targets: int,
                    seed: int = 0) -> dict:
  """The fields and shapes of a training batch without data, for tests and
  benchmarks: uniform random images, a centred disc as every target's mask
  with depth 3.6 on it, and cameras in Portrait4D's view range."""
  rng = np.random.default_rng(seed)
  s = image_size
  yy, xx = np.mgrid[:s, :s] / s - 0.5
  mask = np.broadcast_to((xx**2 + yy**2 < 0.1).astype(np.float32),
                         (batch, targets, s, s))
  yaw = rng.uniform(-0.7, 0.7, (batch, targets))
  c2w = cameras.random_view_pose(yaw, np.full_like(yaw, 0.2), 0 * yaw,
                                 np.full_like(yaw, 4.0),
                                 np.zeros((batch, targets, 3)))
  intr = cameras.focal_intrinsics(np.full((batch, targets),
                                          cameras.P4D_FOCAL))
  f32 = lambda x: np.asarray(x, np.float32)   # noqa: E731
  return dict(image=f32(rng.uniform(-1, 1, (batch, s, s, 3))),
              target_image=f32(rng.uniform(-1, 1, (batch, targets, s, s, 3))),
              target_mask=f32(mask), target_depth=f32(3.6 * mask),
              target_c2w=f32(c2w), target_intrinsics=f32(intr))
