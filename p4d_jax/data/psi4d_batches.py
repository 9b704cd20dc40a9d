"""Psi's batches: cross-view self-reenactment examples from the pseudo
multi-view records (`pseudo_view_reader`).

From each clip a seeded generator draws a source frame and a driving frame
(independently and uniformly, so they may coincide, as in Portrait4D), and
two distinct pseudo views of the driving frame: view p may drive the motion,
view q is the cross-view target. An example:

    image              [S, S, 3]   source frame, float32 in [-1, 1]
    driving_image      [S, S, 3]   the real driving frame
    motion_view_image  [S, S, 3]   pseudo view p of the driving frame
    target_image       [1, S, S, 3], target_mask [1, S, S],
    target_c2w [1, 4, 4], target_intrinsics [1, 3, 3]
                                   the real driving frame at its camera
    pseudo_image       [S, S, 3]   pseudo view q, and pseudo_mask [N, N]
                                   (Psi3d's rendered opacity), pseudo_c2w
                                   [4, 4], pseudo_intrinsics [3, 3]
    pseudo_depth       [N, N]      Psi3d's rendered depth of view q (only
                                   with `depth`, for loss.pseudo_depth)
    source_camera, driving_camera, motion_view_camera  [25]
                                   the three motion frames' camera labels
                                   (what the `pretrained` source aligns by)
    skipped_records    int         corrupt records skipped (metrics)
    source_expression, driving_expression  [E]
                                   the frames' exact expressions,
                                   standardised (only with `expressions`,
                                   for the oracle motion source)

Whether the motion comes from view p or from the real frame is decided in
the step, per batch, with exact counts (see `psi4d.motion_choice`).
"""

from __future__ import annotations

import grain
import jax
import numpy as np

from p4d_jax.data import pseudo_view_reader
from p4d_jax.data import multiview_batches
from p4d_jax.data.synthheads import params as synthheads_params
from p4d_jax.media import image_io
from p4d_jax.parallel import hosts
from p4d_jax.rendering import cameras
from p4d_jax.user_errors import UserError


def pick(frames: int, views: int, rng: np.random.Generator,
         source: int | None = None, expressions: np.ndarray | None = None,
         candidates: int = 1) -> tuple[int, int, int, int]:
  """(source frame, driving frame, motion view p, target view q != p);
  `source` given: that source frame. With `candidates` n > 1 and the frames'
  `expressions` [F, E], the driving frame is the one of n uniform draws
  whose expression is farthest from the source's."""
  if views < 2:
    raise ValueError(f"Psi needs at least 2 pseudo views a frame, the "
                     f"records have {views}; rerun the stage with "
                     "--config.views=2 or more.")
  drawn, driving = rng.integers(frames, size=2)
  source = drawn if source is None else source
  if candidates > 1:
    drivers = np.concatenate([[driving], rng.integers(frames,
                                                      size=candidates - 1)])
    gaps = np.linalg.norm(expressions[drivers] - expressions[source], axis=-1)
    driving = drivers[np.argmax(gaps)]
  p, q = rng.permutation(views)[:2]
  return int(source), int(driving), int(p), int(q)


def example(clip: dict, image_size: int, rng: np.random.Generator,
            expressions: bool = False, source: int | None = None,
            candidates: int = 1, depth: bool = False) -> dict:
  """One training example from a decoded clip (pseudo_view_reader); `source`
  given: that source frame; `candidates` > 1: the driving frame is the most
  different in expression of that many draws (`pick`; clips without
  expressions, i.e. not SynthHeads, draw it uniformly); `depth`: with
  pseudo view q's stored depth."""
  size = clip["frame_image"].shape[1]
  if size != image_size:
    raise ValueError(f"The pseudo views of {clip['clip_name']} are {size}^2 "
                     f"but config.image_size is {image_size}.")
  if "frame_mask" not in clip or "view_mask" not in clip:
    raise ValueError(f"{clip['clip_name']}: Psi's losses need frame masks and"
                     " stored pseudo-view opacity; these records lack them. Rerun "
                     "tools/precompute_pseudo_views.py with store_masks=True "
                     "(clips without masks then get Psi3d's opacity).")
  if expressions and "frame_expression" not in clip:
    raise UserError(f"{clip['clip_name']}: motion.kind=oracle needs the "
                    "frames' expression parameters, which these records "
                    "lack (only SynthHeads clips have them); rerun "
                    "tools/precompute_pseudo_views.py on SynthHeads clips.")
  if depth and "view_depth" not in clip:
    raise UserError(f"{clip['clip_name']}: loss.pseudo_depth needs the "
                    "pseudo views' depth, which these records lack; rerun "
                    "tools/precompute_pseudo_views.py with store_depth=True "
                    "or set --config.loss.pseudo_depth=0.")
  standard = (synthheads_params.standardise_expression(
      clip["frame_expression"]) if "frame_expression" in clip else None)
  s, d, p, q = pick(len(clip["frame_index"]), clip["view_image"].shape[1], rng,
                    source, standard, candidates if standard is not None else 1)
  c2w, intr = (np.asarray(x, np.float32) for x in cameras.unpack_label(
      clip["frame_camera"][d]))
  pc2w, pintr = (np.asarray(x, np.float32) for x in cameras.unpack_label(
      clip["view_camera"][d, q]))
  extra = {}
  if expressions:
    extra = dict(source_expression=standard[s], driving_expression=standard[d])
  if depth:
    extra["pseudo_depth"] = np.asarray(clip["view_depth"][d, q], np.float32)
  return dict(
      **extra,
      image=image_io.to_float(clip["frame_image"][s]),
      driving_image=image_io.to_float(clip["frame_image"][d]),
      motion_view_image=image_io.to_float(clip["view_image"][d, p]),
      target_image=image_io.to_float(clip["frame_image"][d])[None],
      target_mask=(clip["frame_mask"][d].astype(np.float32) / 255.0)[None],
      target_c2w=c2w[None], target_intrinsics=intr[None],
      pseudo_image=image_io.to_float(clip["view_image"][d, q]),
      pseudo_mask=clip["view_mask"][d, q].astype(np.float32) / 255.0,
      pseudo_c2w=pc2w, pseudo_intrinsics=pintr,
      source_camera=np.asarray(clip["frame_camera"][s], np.float32),
      driving_camera=np.asarray(clip["frame_camera"][d], np.float32),
      motion_view_camera=np.asarray(clip["view_camera"][d, p], np.float32),
      skipped_records=np.int32(clip["skipped_records"]))


def examples_of_one_source(clip: dict, image_size: int,
                           rng: np.random.Generator, drivers: int,
                           expressions: bool = False,
                           candidates: int = 1, depth: bool = False) -> dict:
  """`drivers` examples [drivers, ...] that share one source frame, each with
  its own driving frame and views: the same face asked for several
  expressions, which only the driver's motion can tell apart."""
  source = int(rng.integers(len(clip["frame_index"])))
  rows = [example(clip, image_size, rng, expressions, source, candidates,
                  depth) for _ in range(drivers)]
  return {k: np.stack([r[k] for r in rows]) for k in rows[0]}


def training_batches(data, image_size: int, global_batch: int,
                     expressions: bool = False,
                     depth: bool = False) -> grain.IterDataset:
  """Endless, checkpointable batches for this host (config.data: the
  records directory, seed, window, skip_corrupt and drivers_per_source);
  `expressions` adds the frames' standardised expressions, `depth` the
  pseudo view's depth. With
  drivers_per_source k > 1, each clip gives k consecutive examples that share
  their source frame."""
  local_batch = hosts.local_batch_size(global_batch, jax.process_count())
  k = data.get("drivers_per_source", 1)
  n = data.get("driver_candidates", 1)
  if k < 1 or local_batch % k:
    raise UserError(f"data.drivers_per_source={k} must be >= 1 and divide "
                     f"the batch on each host ({local_batch}).")
  if n < 1:
    raise UserError(f"data.driver_candidates={n} must be >= 1 (1: uniform "
                    "driving frames).")
  ds = pseudo_view_reader.clips(
      data.pseudo_views, data.seed, cycle_length=data.cycle_length,
      shuffle_window=data.shuffle_window, skip_corrupt=data.skip_corrupt)
  # A seed per host, or every host's k-th example would pick the same frames.
  seed = data.seed + jax.process_index()
  if k == 1:   # Portrait4D's sampling, its draws as before
    ds = ds.random_map(lambda clip, rng: example(clip, image_size, rng,
                                                 expressions, None, n, depth),
                       seed=seed)
    return ds.batch(local_batch, drop_remainder=True)
  ds = ds.random_map(lambda clip, rng: examples_of_one_source(
      clip, image_size, rng, k, expressions, n, depth), seed=seed)
  ds = ds.batch(local_batch // k, drop_remainder=True)
  return ds.map(lambda b: {n: v.reshape((-1,) + v.shape[2:])
                           for n, v in b.items()})


def synthetic_batch(batch: int, image_size: int, neural: int,
                    depth: bool = False, expressions: bool = False) -> dict:
  """A batch's fields and shapes without records, for tests and ahead-of-time
  compiles: `multiview_batches.synthetic_batch`'s two views of each head as
  the driving frame and its pseudo view (masks and, with `depth`, the pseudo
  view's depth at the neural resolution; with `expressions`, neutral
  source and driving expressions)."""
  mv = multiview_batches.synthetic_batch(batch, image_size, 2, seed=0)
  step = image_size // neural
  labels = np.asarray(cameras.pack_label(mv["target_c2w"],
                                         mv["target_intrinsics"]), np.float32)
  extra = ({"pseudo_depth": mv["target_depth"][:, 1, ::step, ::step]}
           if depth else {})
  if expressions:
    neutral = np.zeros((batch, len(synthheads_params.EXPRESSION)), np.float32)
    extra.update(source_expression=neutral, driving_expression=neutral)
  return dict(**extra, image=mv["image"],
              driving_image=mv["target_image"][:, 0],
              motion_view_image=mv["target_image"][:, 1],
              target_image=mv["target_image"][:, :1],
              target_mask=mv["target_mask"][:, :1],
              target_c2w=mv["target_c2w"][:, :1],
              target_intrinsics=mv["target_intrinsics"][:, :1],
              pseudo_image=mv["target_image"][:, 1],
              pseudo_mask=mv["target_mask"][:, 1, ::step, ::step],
              pseudo_c2w=mv["target_c2w"][:, 1],
              pseudo_intrinsics=mv["target_intrinsics"][:, 1],
              source_camera=labels[:, 0], driving_camera=labels[:, 0],
              motion_view_camera=labels[:, 1],
              skipped_records=np.zeros((batch,), np.int32))
