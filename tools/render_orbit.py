"""The renderer's showcase: a tri-plane head orbit and a SynthHeads clip.

Fits tri-planes to an analytic toy head, then renders it with the two-pass
volume renderer from an orbit of Portrait4D cameras into an RGB mp4, a depth
mp4 and a preview PNG. A rerun reuses the fitted scene. Then it sphere-traces
a SynthHeads talking clip (the stage-2 training data) with its exact depth.
(The main job, the whole pipeline, is tools/demo.py.)

  bash launch/run.sh python tools/render_orbit.py --out=outputs/orbit
  python tools/render_orbit.py --out=DIR --resolution=256 --frames=96
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from p4d_jax import progress as progress_lib
from p4d_jax import user_errors
from p4d_jax.data.synthheads import examples as synthheads
from p4d_jax.media import atomic
from p4d_jax.media import colormap
from p4d_jax.media import image_io
from p4d_jax.media import video_io
from p4d_jax.models import field_mlp
from p4d_jax.rendering import cameras
from p4d_jax.rendering import render
from p4d_jax.rendering import render_config
from p4d_jax.rendering import triplane


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--out", default="outputs/orbit", help="output directory")
  p.add_argument("--resolution", type=int, default=128, help="image size")
  p.add_argument("--frames", type=int, default=48, help="orbit frames")
  p.add_argument("--fps", type=int, default=24)
  p.add_argument("--plane_res", type=int, default=96, help="tri-plane size")
  p.add_argument("--fit_steps", type=int, default=600)
  p.add_argument("--samples", type=int, default=48,
                 help="stratified (= importance) samples per ray")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--clip_frames", type=int, default=50,
                 help="SynthHeads clip length at 25 fps (0 skips it)")
  p.add_argument("--clip_identity", type=int, default=2)
  return p.parse_args(argv)


# The analytic toy head: a skin-coloured ellipsoid with hair, eyes, nose and
# mouth in Portrait4D's world frame (y up, face towards +z, inside the 1.3
# box). `fit_triplane` regresses tri-planes and a FieldDecoder onto it from
# random points (no rendering in the loop), which also exercises the lookup
# gradients. Colours are numpy: nothing may start a JAX backend at import.
SKIN = np.array([0.86, 0.67, 0.55], np.float32)
HAIR = np.array([0.25, 0.15, 0.08], np.float32)
EYE_WHITE = np.array([0.95, 0.95, 0.95], np.float32)
IRIS = np.array([0.15, 0.35, 0.6], np.float32)
LIPS = np.array([0.72, 0.25, 0.3], np.float32)


def _ellipsoid(p, center, radii):
  """Approximate signed distance to an ellipsoid (negative inside)."""
  q = (p - jnp.asarray(center)) / jnp.asarray(radii)
  return (jnp.linalg.norm(q, axis=-1) - 1.0) * jnp.min(jnp.asarray(radii))


def head_sdf_and_color(points: jax.Array) -> tuple[jax.Array, jax.Array]:
  """points [..., 3] -> (signed distance [...], rgb in [0, 1] [..., 3])."""
  p = points
  skull = _ellipsoid(p, (0.0, 0.04, 0.0), (0.26, 0.33, 0.29))
  nose = _ellipsoid(p, (0.0, -0.02, 0.29), (0.045, 0.08, 0.06))
  hair = _ellipsoid(p, (0.0, 0.11, -0.03), (0.285, 0.3, 0.3))
  hair = jnp.maximum(hair, -(p[..., 1] - 0.1 + 0.25 * jnp.maximum(p[..., 2],
                                                                 0.0)))
  eyes = jnp.minimum(_ellipsoid(p, (0.09, 0.08, 0.25), (0.045,) * 3),
                     _ellipsoid(p, (-0.09, 0.08, 0.25), (0.045,) * 3))
  mouth = _ellipsoid(p, (0.0, -0.14, 0.245), (0.08, 0.025, 0.04))
  sdf = jnp.minimum(jnp.minimum(skull, nose), jnp.minimum(hair, eyes))
  sdf = jnp.minimum(sdf, mouth)

  color = jnp.broadcast_to(SKIN, p.shape)
  pick = lambda d, c, col: jnp.where((d <= sdf + 1e-4)[..., None], c, col)
  color = pick(mouth, LIPS, color)
  color = pick(hair, HAIR, color)
  eye_dir = jnp.where(p[..., :1] > 0, 0.09, -0.09)
  iris = jnp.hypot(p[..., 0] - eye_dir[..., 0], p[..., 1] - 0.08) < 0.022
  eye_color = jnp.where((iris & (p[..., 2] > 0.275))[..., None], IRIS,
                        EYE_WHITE)
  color = pick(eyes, eye_color, color)
  return sdf, color


def target_field(points: jax.Array, n_features: int):
  """Raw sigma [...] and features [..., n_features] the fit aims for."""
  sdf, rgb = head_sdf_and_color(points)
  raw_sigma = 30.0 * jnp.tanh(-sdf / 0.02)
  rest = jnp.full(points.shape[:-1] + (n_features - 3,), 0.5)
  return raw_sigma, jnp.concatenate([rgb, rest], axis=-1)


def fit_triplane(key: jax.Array,
                 plane_res: int = 96,
                 channels: int = 32,
                 box_warp: float = 1.3,
                 steps: int = 600,
                 points_per_step: int = 16384,
                 progress: Callable[[int, float], None] | None = None):
  """Fits planes [1, 3, R, R, C] and a FieldDecoder to the analytic head.

  Returns (planes, decoder). `progress(step, loss)` is called every 50 steps
  and after the last one (step counts from 1).
  """
  k_planes, k_dec, k_data = jax.random.split(key, 3)
  planes = 0.1 * jax.random.normal(k_planes,
                                   (1, 3, plane_res, plane_res, channels))
  decoder = field_mlp.FieldDecoder(channels, 64, channels,
                                   zero_init_sigma=False,
                                   rngs=nnx.Rngs(params=k_dec))
  graphdef, dec_params = nnx.split(decoder)
  params = dict(planes=planes, decoder=dec_params)
  optimizer = optax.adam(optax.cosine_decay_schedule(1e-2, steps, 0.05))
  opt_state = optimizer.init(params)
  half = box_warp / 2

  def loss_fn(params, points):
    feats = triplane.sample_triplane(params["planes"], points[None], "p4d",
                                     box_warp)[0]
    out, sigma = nnx.merge(graphdef, params["decoder"])(feats)
    target_sigma, target_feats = target_field(points, channels)
    sigma_loss = jnp.mean(jnp.square((sigma - target_sigma) / 30.0))
    # Colour matters only where there is matter.
    near = (target_sigma > -25.0)[:, None]
    feat_loss = jnp.sum(near * jnp.abs(out - target_feats)) / (
        jnp.sum(near) * channels + 1.0)
    return sigma_loss + feat_loss

  @jax.jit
  def step(params, opt_state, key):
    k_uniform, k_surface, k_noise = jax.random.split(key, 3)
    uniform = jax.random.uniform(k_uniform, (points_per_step // 2, 3),
                                 minval=-half, maxval=half)
    # Half the points near the surface: on a shell around the skull.
    direction = jax.random.normal(k_surface, (points_per_step // 2, 3))
    direction = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
    shell = direction * jnp.array([0.28, 0.35, 0.31]) + jnp.array(
        [0.0, 0.04, 0.0])
    shell = shell + 0.04 * jax.random.normal(k_noise, shell.shape)
    points = jnp.concatenate([uniform, shell])
    loss, grads = jax.value_and_grad(loss_fn)(params, points)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  for i in range(steps):
    params, opt_state, loss = step(params, opt_state,
                                   jax.random.fold_in(k_data, i))
    if progress is not None and (i % 50 == 0 or i == steps - 1):
      progress(i + 1, float(loss))
  decoder = nnx.merge(graphdef, params["decoder"])
  return params["planes"], decoder


def _new_decoder(channels):
  return field_mlp.FieldDecoder(channels, 64, channels, rngs=nnx.Rngs(0))


def load_or_fit_scene(path, args):
  """The fitted scene from `path`, or a fresh fit saved there (atomically)."""
  key = f"v2-{args.plane_res}-{args.fit_steps}-{args.seed}"
  if os.path.exists(path):
    data = np.load(path)
    if str(data["key"]) == key:
      print(f"[orbit] reusing fitted scene {path}")
      decoder = _new_decoder(data["planes"].shape[-1])
      state = nnx.state(decoder)
      count = len(jax.tree.leaves(state))
      nnx.update(decoder, jax.tree.unflatten(
          jax.tree.structure(state),
          [jnp.asarray(data[f"decoder_{i}"]) for i in range(count)]))
      return jnp.asarray(data["planes"]), decoder
  print(f"[orbit] fitting a {args.plane_res}^2 tri-plane to the analytic head")
  progress = progress_lib.Progress(args.fit_steps, "fit")
  planes, decoder = fit_triplane(
      jax.random.key(args.seed), plane_res=args.plane_res,
      steps=args.fit_steps,
      progress=lambda step, loss: progress.update(step, loss=f"{loss:.4f}"))
  arrays = {"planes": np.asarray(planes), "key": np.array(key)}
  for i, leaf in enumerate(jax.tree.leaves(nnx.state(decoder))):
    arrays[f"decoder_{i}"] = np.asarray(leaf)
  with atomic.atomic_path(path) as tmp:
    np.savez(tmp, **arrays)
  return planes, decoder


def orbit_cameras(frames):
  """A yaw sweep of +-35 degrees with a gentle nod, Portrait4D cameras."""
  t = np.linspace(0.0, 2 * np.pi, frames, endpoint=False)
  yaw = 0.6 * np.sin(t)
  pitch = 0.12 * np.sin(2 * t)
  c2w = cameras.look_at_pose(np.pi / 2 + yaw, np.pi / 2 - pitch, 4.0,
                             (0.0, 0.0, 0.0))
  intr = cameras.focal_intrinsics(jnp.full((frames,), cameras.P4D_FOCAL))
  return c2w, intr


def synthheads_clip(args):
  """A talking SynthHeads clip: RGB | exact depth, side by side -> mp4."""
  spec = synthheads.Spec(resolution=args.resolution, supersample=1,
                         frames=args.clip_frames, seed=args.seed)
  scenes, cams = synthheads.clip_scenes(spec, args.clip_identity)
  print(f"[orbit] sphere-tracing a {args.clip_frames}-frame SynthHeads clip")
  progress = progress_lib.Progress(len(scenes), "clip", every=spec.render_batch)
  outs = []
  for start in range(0, len(scenes), spec.render_batch):
    part = slice(start, start + spec.render_batch)
    outs.append(synthheads.render_raw(spec, scenes[part], cams[part]))
    progress.update(min(start + spec.render_batch, len(scenes)))
  rgb, depth, mask = (np.concatenate([o[k] for o in outs])
                      for k in ("rgb", "depth", "mask"))
  near, far = np.percentile(depth[mask > 0.5], [1, 99])  # the head's range
  frames = [np.concatenate([image_io.to_uint8(c * 2.0 - 1.0),
                            colormap.colorize_depth(d, near, far, m)], axis=1)
            for c, d, m in zip(rgb, depth, mask)]
  return video_io.write_video(os.path.join(args.out, "synthheads_clip.mp4"),
                              frames, int(spec.fps))


def main(argv=None):
  args = parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  start = time.time()
  planes, decoder = load_or_fit_scene(os.path.join(args.out, "scene.npz"),
                                      args)
  cfg = render_config.RenderConfig(num_coarse=args.samples,
                                   num_fine=args.samples, chunk_rays=8192)
  graphdef, params = nnx.split(decoder)
  res = args.resolution

  @jax.jit
  def render_frame(c2w, intr, key):
    dec = nnx.merge(graphdef, params)
    return render.render_image(planes, dec, c2w[None], intr[None], res, res,
                               cfg, key=key)

  c2w, intr = orbit_cameras(args.frames)
  rgb_frames, depth_frames = [], []
  progress = progress_lib.Progress(args.frames, "render", every=8)
  # One colour scale for the whole video: the sampled range of all cameras.
  near, far = render.ray_bounds(cfg, c2w, args.frames)
  near, far = float(near.min()), float(far.max())
  for i in range(args.frames):
    out = render_frame(c2w[i], intr[i], jax.random.key(i))
    # White background through the residual transmittance, as in compositing.
    feats = np.asarray(out["features"][0, ..., :3])
    alpha = np.asarray(out["weights_sum"][0])
    rgb = feats + (1.0 - alpha)[..., None]
    rgb_frames.append(image_io.to_uint8(rgb * 2.0 - 1.0))
    depth_frames.append(colormap.colorize_depth(
        np.asarray(out["depth"][0]), near, far, alpha))
    progress.update(i + 1)
  orbit = video_io.write_video(os.path.join(args.out, "orbit.mp4"),
                               rgb_frames, args.fps)
  depth = video_io.write_video(os.path.join(args.out, "orbit_depth.mp4"),
                               depth_frames, args.fps)
  picks = np.linspace(0, args.frames - 1, 6).astype(int)
  preview = np.concatenate([
      np.concatenate([rgb_frames[i] for i in picks], axis=1),
      np.concatenate([depth_frames[i] for i in picks], axis=1)
  ], axis=0)
  png = image_io.write_image(os.path.join(args.out, "orbit_preview.png"),
                             preview)
  clip = synthheads_clip(args) if args.clip_frames > 0 else None
  print(f"[orbit] done in {time.time() - start:.0f}s. Wrote:\n"
        f"  {os.path.abspath(orbit)}   (RGB orbit, {args.frames} frames, "
        f"{res}x{res})\n"
        f"  {os.path.abspath(depth)}   (depth, near=yellow far=purple)\n"
        f"  {os.path.abspath(png)}   (preview: RGB row, depth row)")
  if clip:
    print(f"  {os.path.abspath(clip)}   (SynthHeads clip: RGB | exact depth)")


if __name__ == "__main__":
  user_errors.run(main)
