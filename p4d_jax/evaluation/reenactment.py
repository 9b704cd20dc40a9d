"""Psi's evaluation with exact ground truth: SynthHeads `eval` pairs.

Each pair animates a held-out source frame with a driving frame (even pairs
from the source's own clip, odd pairs from another identity) and compares
with SynthHeads' exact target: the source identity in the driver's
expression and pose, at the driver's camera and at K novel cameras.

Metrics (means over pairs; `same_` and `cross_` for the two kinds):
  psnr, ssim, perceptual   at the driving camera (the reenactment)
  baseline_psnr            the source frame itself against that target
  novel_psnr               at the novel cameras (geometry consistency)
  depth_error              at every camera, on pixels fully on the head
  head_opacity             the rendered opacity on those pixels, at every
                           camera (1: an opaque head; lower, the backdrop
                           shows through the face)
  geometry_consistency     the result's depth maps at the driving and novel
                           cameras reprojected into each other (median
                           distance, `evaluation.geometry_consistency`)
  eyes_psnr, mouth_psnr    at the driving camera, inside the regions where
                           expressions show (`synthheads.regions`)
  static_eyes_psnr, ...    the same for a render driven by the source itself
                           (no reenactment): the expression error the model
                           would make by ignoring the driver. The gap between
                           the two is the expression it carries over.
  shuffled_eyes_psnr, ...  the same driven by another pair's driver (the
                           drivers rolled by one within each batch): what a
                           driver that is not this target's gains (~nothing,
                           or the gain is not expression transfer)
  driver_rms               RMS change of the result (in [-1, 1] units) between
                           driving by the driver and by the source: how much
                           the driver moves the image at all
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax.data import builders
from p4d_jax.data import pipeline
from p4d_jax.data.synthheads import params as synthheads_params
from p4d_jax.data.synthheads import regions
from p4d_jax.evaluation import eval_runs
from p4d_jax.evaluation import geometry_consistency
from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import view_targets
from p4d_jax.media import image_io
from p4d_jax.rendering import cameras


def pair_fields(example: dict) -> dict:
  """One eval pair -> source, driving and [1 + K] targets."""
  tgt, novel = example["target"], example["novel"]
  labels = np.concatenate([np.asarray(tgt["camera"])[None],
                           np.asarray(novel["camera"])])
  c2w, intr = (np.asarray(x, np.float32) for x in cameras.unpack_label(labels))
  size = np.asarray(tgt["mask"]).shape[0]
  return dict(
      image=image_io.to_float(example["source"]["image"]),
      driving_image=image_io.to_float(example["driving"]["image"]),
      target_image=image_io.to_float(np.concatenate([tgt["image"][None],
                                                     novel["image"]])),
      target_mask=np.concatenate([tgt["mask"][None],
                                  novel["mask"]]).astype(np.float32) / 255.0,
      target_depth=np.concatenate([np.asarray(tgt["depth"])[None],
                                   novel["depth"]]).astype(np.float32),
      target_c2w=c2w, target_intrinsics=intr,
      region_mask=regions.region_masks(example["source"]["identity"],
                                       tgt["camera"], size),
      cross_identity=np.bool_(example["cross_identity"]),
      target_expression=np.asarray(tgt["expression"], np.float32),
      # What the oracle motion source reads (standardised).
      source_expression=synthheads_params.standardise_expression(
          example["source"]["expression"]),
      driving_expression=synthheads_params.standardise_expression(
          example["driving"]["expression"]),
      # What the pretrained extractor aligns its crop by.
      source_camera=np.asarray(example["source"]["camera"], np.float32),
      driving_camera=np.asarray(example["driving"]["camera"], np.float32),
      target_pose=np.asarray(tgt["pose"], np.float32),
      # What a motion fit of the result holds fixed (`evaluation.motion_fit`).
      target_world_c2w=np.asarray(cameras.unpack_label(
          np.asarray(tgt["world_camera"]))[0], np.float32),
      **{f"source_{k}": np.asarray(example["source"][k], np.float32)
         for k in ("identity", "lighting", "background")})


# What the jitted render reads of `pair_fields`.
_RENDER_FIELDS = ("image", "driving_image", "source_expression",
                  "driving_expression", "source_camera", "driving_camera", "target_image", "target_mask",
                  "target_depth", "target_c2w", "target_intrinsics",
                  "region_mask")


def motion_frames(model, batch: dict, who: str) -> jax.Array:
  """What `model`'s motion source reads of a pair's `who` ("source" or
  "driving") frame: its image (with its camera) or its standardised
  expression."""
  if model.motion_reads == "expression":
    return batch[f"{who}_expression"]
  image = batch["image" if who == "source" else "driving_image"]
  if model.motion_reads == "framed":
    return dict(image=image, camera=batch[f"{who}_camera"])
  return image


class ReenactmentEvaluator:
  """`evaluate(state, step) -> metrics` for the shared loop, of a Psi
  `models.model.Model` and its configs/psi4d.py config."""

  def __init__(self, model, cfg, workdir: str):
    self.model, self.cfg = model, cfg
    self.perceptual = view_targets.perceptual_fn(
        cfg.loss.lpips_weights if cfg.loss.lpips > 0 else "")[0]
    self.outdir = os.path.join(workdir, "eval")
    ds = pipeline.synthheads("eval", cfg.eval.synthheads_size, "test",
                             builders.data_dir(cfg.eval.data_dir))
    count = min(cfg.eval.pairs, len(ds))
    fields = [pair_fields(ds[i]) for i in range(count)]
    size = fields[0]["image"].shape[0]
    if size != cfg.image_size:
      raise ValueError(f"SynthHeads eval/{cfg.eval.synthheads_size} is "
                       f"{size}^2, config.image_size {cfg.image_size}.")
    self.fields = {k: np.stack([f[k] for f in fields]) for k in fields[0]}
    self._render = jax.jit(self._render_batch)

  def _render_batch(self, params, batch):
    source = self.model.motion_code(params, motion_frames(self.model, batch,
                                                          "source"))
    driving = self.model.motion_code(params, motion_frames(self.model, batch,
                                                           "driving"))
    views = lambda motion: self.model.render_views(  # noqa: E731
        params, batch["image"], batch["target_c2w"],
        batch["target_intrinsics"], jax.random.key(0), source, motion)
    out = views(driving)
    # Every camera again, so that the samples' jitter matches `out`'s.
    static = views(source)
    shuffled = views(jnp.roll(driving, 1, axis=0))
    tg = view_targets.targets(batch, self.model.sizes.superres.factor)
    b, t = batch["target_c2w"].shape[:2]
    per_view = lambda x: x.reshape(b, t, *x.shape[1:])   # noqa: E731
    pred, target = per_view(out["image"]), per_view(tg["image"])
    to01 = view_targets.to01
    psnr = per_view(image_metrics.psnr(to01(out["image"]), to01(tg["image"])))
    depth = per_view(image_metrics.depth_error(out["depth"], tg["depth_raw"],
                                               tg["depth_valid"]))
    in_region = lambda img, k: image_metrics.masked_psnr(  # noqa: E731
        to01(img), to01(target[:, 0]), batch["region_mask"][:, k])
    region_psnr = {
        f"{prefix}{name}_psnr": in_region(img, k)
        for prefix, img in (("", pred[:, 0]),
                            ("static_", per_view(static["image"])[:, 0]),
                            ("shuffled_", per_view(shuffled["image"])[:, 0]))
        for k, name in enumerate(regions.REGIONS)}
    driver_rms = jnp.sqrt(jnp.mean(jnp.square(
        pred[:, 0] - per_view(static["image"])[:, 0]), axis=(1, 2, 3)))
    opacity = to01(out["mask"])
    head_opacity = per_view(image_metrics.mean_over(opacity,
                                                    tg["depth_valid"]))
    consistency = jax.vmap(geometry_consistency.view_consistency)(
        per_view(out["depth"]), per_view(opacity),
        batch["target_c2w"], batch["target_intrinsics"])
    return dict(
        **region_psnr, geometry_consistency=consistency, psnr=psnr[:, 0],
        novel_psnr=jnp.mean(psnr[:, 1:], axis=1), driver_rms=driver_rms,
        ssim=image_metrics.ssim(to01(pred[:, 0]), to01(target[:, 0])),
        perceptual=jax.vmap(lambda a, c: self.perceptual(
            a[None], c[None]))(pred[:, 0], target[:, 0]),
        baseline_psnr=image_metrics.psnr(to01(batch["image"]),
                                         to01(target[:, 0])),
        depth_error=jnp.mean(depth, axis=1),
        head_opacity=jnp.mean(head_opacity, axis=1), image=pred[:, 0],
        static_image=per_view(static["image"])[:, 0])

  def per_pair(self, params) -> dict:
    """Per-pair metrics [P] (the names in the module doc), the results
    `image` and the source-driven controls `static_image` [P, S, S, 3] in
    [-1, 1] at the driving camera."""
    return eval_runs.render_all(
        self._render, params,
        {k: v for k, v in self.fields.items() if k in _RENDER_FIELDS},
        self.cfg.eval.batch)

  def __call__(self, state: dict, step: int) -> dict:
    cross = self.fields["cross_identity"]
    out = self.per_pair(state["ema"])
    metrics = {}
    for name, rows in (("same", ~cross), ("cross", cross)):
      for k in ("psnr", "ssim", "perceptual", "baseline_psnr", "novel_psnr",
                "depth_error", "head_opacity", "geometry_consistency",
                "driver_rms",
                *(f"{p}{r}_psnr" for p in ("", "static_", "shuffled_")
                                 for r in regions.REGIONS)):
        v = out[k][rows]   # NaN where nothing is covered (consistency)
        metrics[f"{name}_{k}"] = (float(np.nanmean(v)) if np.isfinite(v).any()
                                  else float("nan"))
    eval_runs.report(self.outdir, step, metrics, lambda: self.grid(out),
                      len(cross))
    return metrics

  def grid(self, out: dict) -> np.ndarray:
    """uint8 rows: source | driving | result | target."""
    rows = [np.concatenate([image_io.to_uint8(x) for x in (
        self.fields["image"][i], self.fields["driving_image"][i],
        out["image"][i], self.fields["target_image"][i, 0])], axis=1)
            for i in range(min(self.cfg.eval.grid_rows, len(out["image"])))]
    return np.concatenate(rows, axis=0)
