"""SynthHeads examples: multi-view stills, talking clips and evaluation pairs.

Each generator yields (key, example) with numpy values ready for a TFDS
builder: images and masks as PNG bytes, depth as float32 (0 on background),
cameras as 25-float labels. `camera` is always HEAD-RELATIVE (what a face
tracker would report; train with it); `world_camera` is the physical camera,
and pose/expression/identity/lighting/background are stored so every pixel can
be re-rendered. Identity, camera and motion draws are seeded per index, so an
example never depends on the size of the data set it is in.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np

from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.media import image_io
from p4d_jax.progress import Progress
from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras


@dataclasses.dataclass(frozen=True)
class Spec:
  """Sizes and settings of one SynthHeads build."""
  resolution: int = 64
  supersample: int = 2
  seed: int = 0
  identities: int = 256          # training identities (multi-view stills)
  clips: int = 64                # training clips, of identities 0..clips-1
  held_out: int = 32             # evaluation identities (disjoint)
  views: int = 4                 # per multi-view still
  frames: int = 48               # per clip
  fps: float = 12.5              # 3.84 s a clip: blinks, speech and pauses
  eval_pairs: int = 64           # half same-identity, half cross-identity
  novel_views: int = 3           # GT targets at cameras no input had
  render_batch: int = 16         # images per renderer call
  # Whose clips the eval pairs come from: "test" (held-out identities) or
  # "train" (the training clips' identities and exact frames: what a model
  # does on identities it saw, against new ones).
  eval_split: str = "test"


def identity_index(split: str, i: int) -> int:
  """Global identity number of the i-th identity of a split."""
  if split not in ("train", "test"):
    raise ValueError(f"Unknown split {split!r}; use 'train' or 'test'.")
  return i if split == "train" else P.HELD_OUT_OFFSET + i


def split_size(spec: Spec, split: str, kind: str = "multiview") -> int:
  if split == "test":
    return spec.held_out
  return spec.clips if kind == "clips" else spec.identities


# cameras.focal_intrinsics(P4D_FOCAL), written out in numpy: calling jnp at
# import would start JAX's backend.
INTRINSICS = np.array([[cameras.P4D_FOCAL, 0.0, 0.5],
                       [0.0, cameras.P4D_FOCAL, 0.5],
                       [0.0, 0.0, 1.0]], np.float32)


def camera_label(cam2world: np.ndarray) -> np.ndarray:
  """cam2world [..., 4, 4] -> 25-float labels with SynthHeads' intrinsics."""
  intr = np.broadcast_to(INTRINSICS, (*cam2world.shape[:-2], 3, 3))
  return np.asarray(cameras.pack_label(cam2world, intr), np.float32)


def still_scene(seed: int, ident: int, expression=None,
                pose=None) -> P.Scene:
  """Identity `ident` under its own lighting and backdrop; by default with its
  random still expression and no head turn."""
  return P.Scene(
      identity=P.identity_params(seed, ident),
      expression=(P.random_expression(P.rng_for(seed, "expression", ident))
                  if expression is None else expression),
      pose=P.zero_pose() if pose is None else pose,
      lighting=P.uniform(P.rng_for(seed, "lighting", ident), P.LIGHTING),
      background=P.uniform(P.rng_for(seed, "background", ident),
                           P.BACKGROUND))


def render_raw(spec: Spec, scenes: list[P.Scene],
               world_cams: np.ndarray) -> dict:
  """Renders scene k at world camera k [K, 4, 4] -> `render.render`'s arrays."""
  stacked = P.Scene(*(np.stack(f) for f in zip(*scenes)))
  parts = []
  for s in range(0, len(scenes), spec.render_batch):
    part = slice(s, s + spec.render_batch)
    parts.append(render.render(
        P.Scene(*(f[part] for f in stacked)), world_cams[part],
        np.broadcast_to(INTRINSICS, (len(world_cams[part]), 3, 3)),
        spec.resolution, supersample=spec.supersample))
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _png(unit: np.ndarray) -> bytes:
  """[0, 1] image -> PNG bytes."""
  return image_io.encode_png(image_io.to_uint8(unit * 2.0 - 1.0))


def render_views(spec: Spec, scenes: list[P.Scene],
                 world_cams: np.ndarray) -> dict:
  """Renders scene k at world camera k -> encoded views and labels."""
  out = render_raw(spec, scenes, world_cams)
  pose = np.stack([s.pose for s in scenes])
  rel = render.head_relative_camera(world_cams, pose)
  return dict(image=np.array([_png(x) for x in out["rgb"]], dtype=object),
              mask=np.array([_png(x) for x in out["mask"]], dtype=object),
              depth=out["depth"].astype(np.float32),
              camera=camera_label(np.asarray(rel)), world_camera=camera_label(world_cams))


def multiview(spec: Spec, split: str, progress: bool = True) -> Iterator:
  """One example per identity: one random expression, `views` random views."""
  count = split_size(spec, split)
  bar = Progress(count, f"multiview/{split}", every=16) if progress else None
  for i in range(count):
    ident = identity_index(split, i)
    scene = still_scene(spec.seed, ident)
    cams = motion.random_view_cameras(P.rng_for(spec.seed, "camera", ident),
                                      spec.views,
                                      camera_settings.RandomViewRanges())
    views = render_views(spec, [scene] * spec.views, cams)
    yield ident, dict(identity_index=ident, **scene._asdict(), **views)
    if bar:
      bar.update(i + 1)


def clip_curves(spec: Spec, ident: int):
  """(expression [T, 6], pose [T, 3], world cameras [T, 4, 4]) of a clip."""
  rng = P.rng_for(spec.seed, "motion", ident)
  expression, pose = motion.clip_motion(rng, spec.frames, spec.fps)
  return expression, pose, motion.camera_track(rng, spec.frames)


def clip_scenes(spec: Spec, ident: int) -> tuple[list[P.Scene], np.ndarray]:
  """Identity `ident`'s talking clip: a scene per frame and world cameras."""
  expression, pose, cams = clip_curves(spec, ident)
  base = still_scene(spec.seed, ident)
  return [base._replace(expression=e, pose=p)
          for e, p in zip(expression, pose)], cams


def clips(spec: Spec, split: str, progress: bool = True) -> Iterator:
  """One talking clip of `frames` frames per identity (the stage-2 videos)."""
  count = split_size(spec, split, "clips")
  bar = Progress(count, f"clips/{split}", every=4) if progress else None
  for i in range(count):
    ident = identity_index(split, i)
    scenes, cams = clip_scenes(spec, ident)
    views = render_views(spec, scenes, cams)
    first = scenes[0]
    yield ident, dict(identity_index=ident, identity=first.identity,
                      lighting=first.lighting, background=first.background,
                      expression=np.stack([s.expression for s in scenes]),
                      pose=np.stack([s.pose for s in scenes]), **views)
    if bar:
      bar.update(i + 1)


def eval_pairs(spec: Spec, progress: bool = True) -> Iterator:
  """(source frame, driving frame) pairs on held-out clips (or, with
  `eval_split` "train", on the training clips), with exact GT.

  Even pairs reenact the source's own clip; odd pairs take the driving frame
  from another held-out identity (cross-identity). The target is the SOURCE
  identity (its lighting and backdrop) wearing the driver's expression and
  pose, seen by the driver's camera and by `novel_views` random cameras.
  """
  split = spec.eval_split
  pool = split_size(spec, split, "clips")
  offset = identity_index(split, 0)
  bar = Progress(spec.eval_pairs, "eval", every=8) if progress else None
  for k in range(spec.eval_pairs):
    rng = P.rng_for(spec.seed, "pairs", k)
    cross = k % 2 == 1
    src_id = identity_index(split, int(rng.integers(pool)))
    drv_id = src_id
    if cross:
      if pool < 2:
        raise ValueError("cross-identity pairs need 2 or more identities.")
      other = int(rng.integers(pool - 1))
      drv_id = identity_index(split, other + (other >= src_id - offset))
    src_frame, drv_frame = (int(x) for x in rng.integers(spec.frames, size=2))
    s_expr, s_pose, s_cams = clip_curves(spec, src_id)
    d_expr, d_pose, d_cams = clip_curves(spec, drv_id)
    source = still_scene(spec.seed, src_id, s_expr[src_frame],
                         s_pose[src_frame])
    driving = still_scene(spec.seed, drv_id, d_expr[drv_frame],
                          d_pose[drv_frame])
    target = source._replace(expression=driving.expression, pose=driving.pose)
    novel_rel = motion.random_view_cameras(rng, spec.novel_views,
                                           camera_settings.RandomViewRanges())
    novel_world = np.asarray(render.head_to_world(target.pose)) @ novel_rel
    # Same identity: the target at the driving camera IS the driving frame.
    at_driver = [target] if cross else []
    world = np.concatenate([s_cams[src_frame][None], d_cams[drv_frame][None]] +
                           [d_cams[drv_frame][None]] * len(at_driver) +
                           [novel_world])
    views = render_views(spec, [source, driving, *at_driver] +
                         [target] * spec.novel_views, world)
    pick = lambda sl: {key: v[sl] for key, v in views.items()}  # noqa: E731
    first_novel = 2 + len(at_driver)
    yield k, dict(
        cross_identity=cross,
        source=dict(identity_index=src_id, frame=src_frame, **source._asdict(),
                    **pick(0)),
        driving=dict(identity_index=drv_id, frame=drv_frame,
                     **driving._asdict(), **pick(1)),
        target=dict(expression=target.expression, pose=target.pose,
                    **pick(first_novel - 1)),
        novel=pick(slice(first_novel, None)))
    if bar:
      bar.update(k + 1)
