"""Few-shot avatars measured with SynthHeads' exact ground truth.

A `person(protocol, i)` is a fresh held-out identity (seed `SEED`, which no
SynthHeads build uses: their identities, lighting and backdrops are all
other draws) with

  inputs   `k_max` views, each with its own random expression, cameras with
           |yaw| <= `input_yaw` (head pose folded into the camera)
  targets  `targets` views at cameras with |yaw| <= `target_yaw`, each with
           another random expression (novel view x novel expression), exact
           image, mask and depth
  drivers  per target, ANOTHER identity showing the target's expression
           from the front: what animates the avatar (so no method sees the
           target's own pixels)

`score` compares renders with targets: PSNR and SSIM on the full image and
on the head (masked: PSNR over the target's mask; SSIM of both images times
the mask), and depth error on pixels fully on the head at the neural
resolution (`view_targets.targets`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import view_targets
from p4d_jax.inference import avatar as avatar_lib
from p4d_jax.rendering import camera_settings
from p4d_jax.rendering import cameras

SEED = 2026            # no SynthHeads build uses it (they use `Spec.seed` 0)
DRIVER_OFFSET = 500_000   # drivers' identity numbers


@dataclasses.dataclass(frozen=True)
class Protocol:
  k_max: int = 8
  targets: int = 6
  input_yaw: float = np.deg2rad(30.0)
  target_yaw: float = np.deg2rad(60.0)
  size: int = 64
  supersample: int = 2


def _views(rng, count: int, yaw: float) -> np.ndarray:
  ranges = camera_settings.RandomViewRanges(
      yaw=(-yaw, yaw), elevation_param=(-0.1, 0.3), roll=(-0.08, 0.08))
  return motion.random_view_cameras(rng, count, ranges)


def _render(scenes: list, c2w: np.ndarray, protocol: Protocol) -> dict:
  stacked = P.Scene(*(np.stack(f) for f in zip(*scenes)))
  intr = np.broadcast_to(examples.INTRINSICS, (len(c2w), 3, 3))
  return render.render(stacked, c2w, intr, protocol.size,
                       supersample=protocol.supersample)


def person(protocol: Protocol, i: int) -> dict:
  """Held-out person `i`: inputs (image [K, S, S, 3] in [-1, 1], label
  [K, 25], mask [K, S, S]) and targets (the same plus depth [T, S, S],
  driving [T, S, S, 3] and driving_label [T, 25])."""
  rng = P.rng_for(SEED, "pairs", i)
  base = examples.still_scene(SEED, i)
  exprs = [P.random_expression(rng) for _ in range(protocol.k_max +
                                                    protocol.targets)]
  c2w_in = _views(rng, protocol.k_max, protocol.input_yaw)
  c2w_tg = _views(rng, protocol.targets, protocol.target_yaw)
  scenes = [base._replace(expression=e) for e in exprs]
  out = _render(scenes, np.concatenate([c2w_in, c2w_tg]), protocol)
  driver = examples.still_scene(SEED, DRIVER_OFFSET + i)
  front = np.asarray(cameras.unpack_label(avatar_lib.view_label())[0])
  drv = _render([driver._replace(expression=e)
                 for e in exprs[protocol.k_max:]],
                np.repeat(front[None], protocol.targets, 0), protocol)
  labels = examples.camera_label(np.concatenate([c2w_in, c2w_tg]))
  signed = lambda x: (x * 2.0 - 1.0).astype(np.float32)   # noqa: E731
  k = protocol.k_max
  return dict(
      identity=i,
      inputs=dict(image=signed(out["rgb"][:k]), label=labels[:k],
                  mask=out["mask"][:k]),
      targets=dict(image=signed(out["rgb"][k:]), label=labels[k:],
                   mask=out["mask"][k:], depth=out["depth"][k:],
                   driving=signed(drv["rgb"]),
                   driving_label=np.repeat(avatar_lib.view_label()[None],
                                           protocol.targets, 0)))


@jax.jit
def _score(image, depth, target_image, target_mask, target_depth, labels):
  batch = dict(target_image=target_image[None], target_mask=target_mask[None],
               target_depth=target_depth[None])
  batch["target_c2w"], batch["target_intrinsics"] = (
      x[None] for x in cameras.unpack_label(labels))
  factor = target_image.shape[1] // depth.shape[1]
  tg = view_targets.targets(batch, factor)
  pred, target = view_targets.to01(image), view_targets.to01(target_image)
  mask = target_mask[..., None]
  return dict(
      psnr=image_metrics.psnr(pred, target),
      psnr_masked=image_metrics.masked_psnr(pred, target, target_mask),
      ssim=image_metrics.ssim(pred, target),
      ssim_masked=image_metrics.ssim(pred * mask, target * mask),
      depth_error=image_metrics.depth_error(depth, tg["depth_raw"],
                                            tg["depth_valid"]))


def score(rendered: dict, views: dict) -> dict:
  """Renders (image [N, S, S, 3] in [-1, 1], depth [N, n, n]) vs views
  (image, mask, depth [N, ...], label [N, 25]) -> per-view metrics [N]
  (depth_error only where `views` has depth)."""
  depth = views.get("depth", np.zeros(views["mask"].shape, np.float32))
  out = _score(jnp.asarray(rendered["image"]), jnp.asarray(rendered["depth"]),
               jnp.asarray(views["image"]), jnp.asarray(views["mask"]),
               jnp.asarray(depth), jnp.asarray(views["label"]))
  out = {k: np.asarray(v) for k, v in out.items()}
  if "depth" not in views:
    del out["depth_error"]
  return out


def mean_ci(values) -> tuple[float, float]:
  """Mean and the half-width of its 95% confidence interval (normal
  approximation, sample standard deviation) of per-identity values."""
  v = np.asarray(values, np.float64)
  v = v[np.isfinite(v)]
  if len(v) < 2:
    return (float(v.mean()) if len(v) else float("nan")), float("nan")
  return float(v.mean()), float(1.96 * v.std(ddof=1) / np.sqrt(len(v)))
