"""Loss terms inside the expression regions (issue 18): where the eyes and
mouth show at each target camera (`face_crop.expression_regions`, disks
about the projected anchors; camera-only, so any task whose targets carry
cameras can use them: Psi3d's views and Psi's driving frame alike).

  expression_l1       L1 of the super-resolved and the raw render against
                      their targets, each a mean over the region's pixels:
                      the expression, weighted apart from the whole image
                      whose reconstruction error otherwise drowns it;
  expression_opacity  L1 of the rendered opacity to the target's mask
                      there: the L1 alone lowers the face's opacity and the
                      head turns semi-transparent (README, issue 18).
"""

from __future__ import annotations

import jax

from p4d_jax.evaluation import view_targets
from p4d_jax.models.motion import face_crop
from p4d_jax.rendering import cameras
from p4d_jax.train import losses


def regions(tg: dict, size: int) -> jax.Array:
  """[B, size, size] 0/1: the expression regions at the cameras of targets
  `tg` (`view_targets.targets`: flattened `c2w` [B, 4, 4] and `intrinsics`
  [B, 3, 3])."""
  labels = cameras.pack_label(tg["c2w"], tg["intrinsics"])
  return face_crop.expression_regions(labels, size)


def expression_l1(out: dict, tg: dict) -> jax.Array:
  """Renders `out` (image [B, S, S, 3], image_raw [B, N, N, 3]) against
  targets `tg`: the sum of the two region means of |render - target|."""
  pairs = ((out["image"], tg["image"]), (out["image_raw"], tg["image_raw"]))
  return sum(losses.l1(a, b, regions(tg, a.shape[1])[..., None])
             for a, b in pairs)


def expression_opacity(out: dict, tg: dict) -> jax.Array:
  """The region mean of |opacity - mask|: rendered `out["mask"]` [B, N, N]
  in [-1, 1] against `tg["mask_raw"]` [B, N, N] in [0, 1]."""
  return losses.opacity(view_targets.to01(out["mask"]), tg["mask_raw"],
                        regions(tg, out["mask"].shape[1]))


def terms(loss_cfg, out: dict, tg: dict) -> dict:
  """The region terms whose config.loss weight is > 0 (absent keys: 0)."""
  chosen = dict(expression_l1=expression_l1,
                expression_opacity=expression_opacity)
  return {name: fn(out, tg) for name, fn in chosen.items()
          if loss_cfg.get(name, 0.0) > 0}
