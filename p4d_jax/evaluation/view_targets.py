"""What a batch of renders is compared with: its target views, flattened and
at both of the model's resolutions (training losses and evaluation alike)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from p4d_jax.evaluation import image_metrics


def targets(batch: dict, factor: int) -> dict:
  """Targets [B, T, ...] -> [B*T, ...]: image at the output size; image_raw,
  mask_raw and (when the batch has `target_depth`) depth_raw with its
  validity at the neural resolution (`factor` = super-resolution). Depth is
  valid where the pixel is fully on the head."""
  flat = lambda x: x.reshape(-1, *x.shape[2:])   # noqa: E731
  image = flat(batch["target_image"])
  mask = flat(batch["target_mask"])
  down = functools.partial(image_metrics.area_downsample, factor=factor)
  out = dict(image=image, image_raw=down(image), mask_raw=down(mask),
             c2w=flat(batch["target_c2w"]),
             intrinsics=flat(batch["target_intrinsics"]))
  if "target_depth" in batch:
    full = (mask > 0.99).astype(jnp.float32)
    out.update(depth_raw=down(flat(batch["target_depth"]) * full),
               depth_valid=down(full) > 0.999)
  return out


def perceptual_fn(weights_path: str):
  """(a, b) [B, H, W, 3] in [-1, 1] -> mean distance, and its name: LPIPS-VGG
  when `weights_path` names a converted run directory
  (tools/convert_lpips.py), else 1 - SSIM, which needs no weights."""
  if weights_path:
    from p4d_jax.models import lpips   # pylint: disable=import-outside-toplevel
    model = lpips.load(weights_path)
    return (lambda a, b: jnp.mean(model(a, b))), "lpips"
  return (lambda a, b: jnp.mean(1.0 - image_metrics.ssim(
      (a + 1.0) / 2.0, (b + 1.0) / 2.0))), "1-ssim"


def to01(x: jax.Array) -> jax.Array:
  """[-1, 1] -> [0, 1]."""
  return (x + 1.0) / 2.0
