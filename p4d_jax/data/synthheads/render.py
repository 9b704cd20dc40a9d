"""Sphere-traced SynthHeads images: RGB, depth, soft mask and normals.

Rays come from `p4d_jax.rendering.rays` (so SynthHeads cameras are exactly the
model's cameras), are moved into the head's pose-free frame and marched
through `geometry.head_sdf`. Depth is the distance along the unit ray from the
camera centre, as `p4d_jax.rendering.render` reports it, and 0 on background.

Images of a batch are rendered in fixed-size groups, so one scene's pixels
never depend on what else shares its batch (determinism across batch sizes).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax.data.synthheads import appearance
from p4d_jax.data.synthheads import geometry
from p4d_jax.data.synthheads import params as P
from p4d_jax.rendering import cameras
from p4d_jax.rendering import rays

# Sphere tracing in stages: (iterations, 1/fraction of the rays still marched).
# About 80 % of rays converge within 12 steps; the stragglers (grazing the
# silhouette) are compacted, so later steps cost a fraction of a full pass
# (measured at 128^2: 19 % left after 12 steps, 4 % after 24, 0.7 % after 48).
STAGES = ((12, 1), (12, 4), (24, 16), (48, 64))
# < 1 because the smile's bend makes the field slightly steeper than 1; an
# overshoot just returns a negative distance and the march steps back.
STEP_FACTOR = 0.9
CONVERGED = 5e-4    # |sdf| below which a ray stops being a straggler
HIT_EPSILON = 2e-3  # |sdf| below this at the end of the march is a hit
GROUP = 4           # images per compiled call


def pose_rotation(pose: jax.Array) -> jax.Array:
  """Head rotation [3, 3] (head-local -> world) from yaw, pitch, roll [3]."""
  yaw, pitch, roll = pose[0], pose[1], pose[2]
  cy, sy = jnp.cos(yaw), jnp.sin(yaw)
  cp, sp = jnp.cos(pitch), jnp.sin(pitch)
  cr, sr = jnp.cos(roll), jnp.sin(roll)
  one, zero = jnp.ones_like(yaw), jnp.zeros_like(yaw)
  r_yaw = jnp.array([[cy, zero, sy], [zero, one, zero], [-sy, zero, cy]])
  # Pitch > 0 lifts the chin: the face's +z axis turns towards +y.
  r_pitch = jnp.array([[one, zero, zero], [zero, cp, sp], [zero, -sp, cp]])
  r_roll = jnp.array([[cr, -sr, zero], [sr, cr, zero], [zero, zero, one]])
  return r_roll @ r_yaw @ r_pitch


def head_to_world(pose: jax.Array) -> jax.Array:
  """Rigid 4x4 [..., 4, 4] taking head-local points to the world: the head
  turns about `params.NECK_PIVOT`."""
  rot = jnp.vectorize(pose_rotation, signature="(3)->(3,3)")(pose)
  pivot = jnp.asarray(P.NECK_PIVOT, jnp.float32)
  trans = pivot - jnp.einsum("...ij,j->...i", rot, pivot)
  top = jnp.concatenate([rot, trans[..., None]], -1)
  bottom = jnp.broadcast_to(jnp.array([0.0, 0.0, 0.0, 1.0]),
                            (*rot.shape[:-2], 1, 4))
  return jnp.concatenate([top, bottom], -2)


def head_relative_camera(cam2world: jax.Array, pose: jax.Array) -> jax.Array:
  """The camera [..., 4, 4] as seen from the head: what a face tracker
  reports, and the label a model is trained with."""
  return cameras.world_to_camera(head_to_world(pose)) @ cam2world


def _bound_interval(origins, dirs):
  """Entry/exit distances [N] of the bounding sphere; far < near on a miss."""
  center = jnp.asarray(geometry.BOUND_CENTER, jnp.float32)
  oc = origins - center
  b = jnp.sum(oc * dirs, -1)
  disc = b * b - (jnp.sum(oc * oc, -1) - geometry.BOUND_RADIUS**2)
  root = jnp.sqrt(jnp.maximum(disc, 0.0))
  near = jnp.maximum(-b - root, 0.0)
  far = jnp.where(disc > 0.0, -b + root, -1.0)
  return near, far


def sphere_trace(sdf, origins: jax.Array, dirs: jax.Array,
                 stages=STAGES) -> tuple[jax.Array, jax.Array]:
  """Distances t [N] and hit flags [N] along rays [N, 3] to sdf's zero set."""
  near, far = _bound_interval(origins, dirs)

  def march(t, o, d, f, steps):
    def step(_, t):
      return jnp.minimum(t + STEP_FACTOR * sdf(o + t[:, None] * d), f + 1e-3)
    return jax.lax.fori_loop(0, steps, step, t)

  t = near
  for steps, fraction in stages:
    if fraction == 1:
      t = march(t, origins, dirs, far, steps)
      continue
    dist = sdf(origins + t[:, None] * dirs)
    done = (jnp.abs(dist) < CONVERGED) | (t >= far)
    # Stragglers first; rays already done stay frozen even when picked, so a
    # ray's result never depends on the other rays (while stragglers fit).
    idx = jnp.argsort(done, stable=True)[:max(1, t.shape[0] // fraction)]
    marched = march(t[idx], origins[idx], dirs[idx], far[idx], steps)
    t = t.at[idx].set(jnp.where(done[idx], t[idx], marched))
  hit = (jnp.abs(sdf(origins + t[:, None] * dirs)) < HIT_EPSILON) & (t < far)
  return t, hit


def _render_one(scene: P.Scene, cam2world, intrinsics, height, width):
  """One scene [H*W] rays -> rgb [N, 3], depth [N], hit [N], normal [N, 3]."""
  origins, dirs = rays.generate_rays(cam2world[None], intrinsics[None],
                                     height, width, "p4d")
  origins, dirs = origins[0], dirs[0]
  world_from_head = head_to_world(scene.pose)
  rot, trans = world_from_head[:3, :3], world_from_head[:3, 3]
  local_o = (origins - trans) @ rot      # rot^T (o - trans), row vectors
  local_d = dirs @ rot
  sdf = functools.partial(geometry.head_sdf, scene.identity, scene.expression)
  t, hit = sphere_trace(sdf, local_o, local_d)
  local_p = local_o + t[:, None] * local_d
  grad = jax.grad(lambda q: jnp.sum(sdf(q)))(local_p)
  local_n = grad / jnp.maximum(jnp.linalg.norm(grad, axis=-1, keepdims=True),
                               1e-9)
  normal = local_n @ rot.T
  albedo, eye = appearance.albedo(scene.identity, scene.expression, local_p)
  lit = appearance.shade(albedo, normal, dirs, scene.lighting, eye)
  back = appearance.backdrop(scene.background, dirs)
  rgb = jnp.where(hit[:, None], lit, back)
  return rgb, jnp.where(hit, t, 0.0), hit, jnp.where(hit[:, None], normal, 0.0)


@functools.partial(jax.jit, static_argnames=("height", "width", "supersample"))
def _render_group(scene, cam2world, intrinsics, height, width, supersample):
  s = supersample
  rgb, depth, hit, normal = jax.vmap(
      _render_one, in_axes=(0, 0, 0, None, None))(
          scene, cam2world, intrinsics, height * s, width * s)
  b = rgb.shape[0]

  def pool(x):  # [B, (H s) (W s), ...] -> [B, H, W, s*s, ...]
    x = x.reshape(b, height, s, width, s, *x.shape[2:])
    x = jnp.moveaxis(x, 2, 3)
    return x.reshape(b, height, width, s * s, *x.shape[5:])

  hits = pool(hit.astype(jnp.float32))
  count = jnp.maximum(jnp.sum(hits, -1), 1.0)
  mask = jnp.mean(hits, -1)
  depth = jnp.sum(pool(depth), -1) / count
  normal = jnp.sum(pool(normal), -2)
  normal = normal / jnp.maximum(
      jnp.linalg.norm(normal, axis=-1, keepdims=True), 1e-9)
  return dict(rgb=jnp.mean(pool(rgb), -2), depth=depth, mask=mask,
              normal=normal)


def render(scene: P.Scene, cam2world, intrinsics, height: int,
           width: int | None = None, supersample: int = 1) -> dict:
  """Renders B scenes, one camera each.

  Args:
    scene: a `params.Scene` with vectors [B, D].
    cam2world: [B, 4, 4] WORLD cameras, p4d convention.
    intrinsics: [B, 3, 3] normalised by image size.
    height, width: output size; supersample: s x s rays per pixel, averaged
      (soft mask edges); 1 is fastest.

  Returns numpy float32 arrays: rgb [B, H, W, 3] in [0, 1] (head over the
  backdrop), depth [B, H, W] (mean ray distance of the pixel's hits, 0 where
  none), mask [B, H, W] (covered fraction) and normal [B, H, W, 3] (world).
  """
  width = height if width is None else width
  P.check_scene(scene)
  scene = P.Scene(*(np.asarray(v, np.float32) for v in scene))
  cam2world = np.asarray(cam2world, np.float32)
  intrinsics = np.asarray(intrinsics, np.float32)
  batch = cam2world.shape[0]
  if cam2world.shape != (batch, 4, 4) or intrinsics.shape != (batch, 3, 3):
    raise ValueError(f"cam2world {cam2world.shape} and intrinsics "
                     f"{intrinsics.shape} must be [B, 4, 4] and [B, 3, 3].")
  if any(np.shape(v)[0] != batch for v in scene):
    raise ValueError(f"every Scene field needs batch {batch}: "
                     f"{[np.shape(v) for v in scene]}")
  pad = -batch % GROUP
  padded = lambda x: np.concatenate([x, np.repeat(x[-1:], pad, 0)])  # noqa
  scene, cam2world, intrinsics = jax.tree.map(
      padded, (scene, cam2world, intrinsics))
  outs = []
  for start in range(0, batch + pad, GROUP):
    take = lambda x: x[start:start + GROUP]  # noqa: E731
    outs.append(_render_group(
        jax.tree.map(take, scene), take(cam2world), take(intrinsics),
        height=height, width=width, supersample=supersample))
  return {k: np.concatenate([np.asarray(o[k]) for o in outs])[:batch]
          for k in outs[0]}
