"""Psi3d's periodic evaluation on held-out SynthHeads identities.

For each of `eval.identities` test heads the input is its first view; the
targets are its other views whose yaw is within `eval.max_yaw` of the input
(SynthHeads' views span Portrait4D's +-45 degrees). Reported, as means over
(input, target) pairs, from the EMA weights:

  psnr, ssim          super-resolved image vs the target view
  baseline_psnr/ssim  the trivial answer "show the input image"
  psnr_gain           psnr - baseline_psnr
  mask_iou            rendered opacity > 0.5 vs the target mask > 0.5, at
                      the neural resolution (the mask area-downsampled)
  depth_error         mean |depth| error (world units) on pixels fully on
                      the head
  jaw_r, jaw_slope    with eval.jaw_follow: each render's jaw opening read
                      back (`jaw_follow.fitted_jaw`, the head's exact truth)
                      against the input's, Pearson r and slope over the
                      pairs: how much of its input's expression the
                      synthesizer carries to other views (1: all, 0: none)

and a PNG grid per evaluation (rows: input | per target: render, target,
rendered depth) in workdir/eval/, with each evaluation's numbers appended to
workdir/eval/metrics.jsonl.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from p4d_jax.data import builders
from p4d_jax.data import pipeline
from p4d_jax.evaluation import eval_runs
from p4d_jax.evaluation import image_metrics
from p4d_jax.evaluation import jaw_follow
from p4d_jax.evaluation import view_targets
from p4d_jax.media import colormap
from p4d_jax.media import image_io
from p4d_jax.rendering import cameras
from p4d_jax.data import multiview_batches


def camera_yaw(c2w: np.ndarray) -> np.ndarray:
  """Horizontal angle of camera positions [..., 4, 4] about the y axis."""
  center = cameras.camera_center(c2w)
  return np.arctan2(center[..., 0], center[..., 2])


def eval_pairs(examples: list[dict], max_yaw: float):
  """(example index, target view) for views 1.. within max_yaw of view 0."""
  pairs = []
  for i, ex in enumerate(examples):
    yaw = camera_yaw(cameras.unpack_label(np.asarray(ex["camera"]))[0])
    gap = np.abs(np.angle(np.exp(1j * (yaw - yaw[0]))))
    pairs += [(i, v) for v in range(1, len(yaw)) if gap[v] <= max_yaw]
  return pairs


class NovelViewEvaluator:
  """`evaluate(state, step) -> metrics` for the shared loop, of a
  `models.model.Model` and its configs/psi3d.py config."""

  def __init__(self, model, cfg, workdir: str):
    self.model, self.cfg = model, cfg
    self.outdir = os.path.join(workdir, "eval")
    data = cfg.data
    ds = pipeline.synthheads(data.kind, data.size, "test",
                             builders.data_dir(data.data_dir))
    count = min(cfg.eval.identities, len(ds))
    examples = [ds[i] for i in range(count)]
    self.pairs = eval_pairs(examples, cfg.eval.max_yaw)
    if not self.pairs:
      raise ValueError(f"No held-out views within eval.max_yaw "
                       f"{cfg.eval.max_yaw} of an input view.")
    fields = [multiview_batches.select_views(examples[i], 0, np.array([v]),
                                             cfg.image_size)
              for i, v in self.pairs]
    self.fields = {k: np.stack([f[k] for f in fields]) for k in fields[0]}
    # Per pair: the head's truth and the target's head-relative camera.
    self.truth = [dict(scene={k: examples[i][k] for k in
                              ("identity", "lighting", "background")},
                       expression=np.asarray(examples[i]["expression"]),
                       label=np.asarray(examples[i]["camera"][v]))
                  for i, v in self.pairs] if cfg.eval.get("jaw_follow") else []
    self._jaw_references = None
    self.grid_inputs = sorted({i for i, _ in self.pairs})[:cfg.eval.grid_rows]
    self._render = jax.jit(self._render_batch)

  def _render_batch(self, params, batch):
    out = self.model.render_views(params, batch["image"], batch["target_c2w"],
                                  batch["target_intrinsics"],
                                  jax.random.key(0))
    tg = view_targets.targets(batch, self.model.sizes.superres.factor)
    to01 = view_targets.to01
    pred, target = to01(out["image"]), to01(tg["image"])
    source = to01(batch["image"])
    return dict(
        psnr=image_metrics.psnr(pred, target),
        ssim=image_metrics.ssim(pred, target),
        baseline_psnr=image_metrics.psnr(source, target),
        baseline_ssim=image_metrics.ssim(source, target),
        mask_iou=image_metrics.mask_iou(to01(out["mask"]), tg["mask_raw"]),
        depth_error=image_metrics.depth_error(out["depth"], tg["depth_raw"],
                                              tg["depth_valid"]),
        image=out["image"], depth=out["depth"], mask=to01(out["mask"]))

  def __call__(self, state: dict, step: int) -> dict:
    out = eval_runs.render_all(self._render, state["ema"], self.fields,
                     self.cfg.eval.batch)
    metrics = {k: float(np.mean(out[k])) for k in
               ("psnr", "ssim", "baseline_psnr", "baseline_ssim", "mask_iou",
                "depth_error")}
    metrics["psnr_gain"] = metrics["psnr"] - metrics["baseline_psnr"]
    if self.truth:
      follow = self.jaw_follow(out["image"])
      metrics.update(jaw_r=follow["r"], jaw_slope=follow["slope"])
    eval_runs.report(self.outdir, step, metrics, lambda: self.grid(out),
           len(self.pairs))
    return metrics

  def jaw_follow(self, images: np.ndarray) -> dict:
    """Renders [P, S, S, 3] in [-1, 1], one per pair -> `jaw_follow.
    correlation` of the jaw read from each against its input's."""
    if self._jaw_references is None:   # the pairs are fixed: render once
      self._jaw_references = [jaw_follow.jaw_references(
          t["scene"], t["label"][None], t["expression"][None],
          images.shape[1]) for t in self.truth]
    read = [jaw_follow.read_jaw(view_targets.to01(images[k][None]),
                                references)[0]
            for k, references in enumerate(self._jaw_references)]
    truth = [t["expression"][jaw_follow.JAW] for t in self.truth]
    return jaw_follow.correlation(np.array(truth), np.array(read))

  def grid(self, out: dict) -> np.ndarray:
    """uint8 rows: input | (render, target, depth) per target view."""
    size = self.cfg.image_size
    near, far = 3.0, 4.5   # the head's depth range from Portrait4D's cameras
    rows, width = [], 0
    for i in self.grid_inputs:
      which = [k for k, (j, _) in enumerate(self.pairs) if j == i]
      tiles = [self.fields["image"][which[0]]]
      for k in which:
        depth = colormap.colorize_depth(_nearest(out["depth"][k], size),
                                        near, far,
                                        _nearest(out["mask"][k], size))
        tiles += [out["image"][k], self.fields["target_image"][k][0],
                  image_io.to_float(depth)]
      row = np.concatenate([image_io.to_uint8(t) for t in tiles], axis=1)
      width = max(width, row.shape[1])
      rows.append(row)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)))
            for r in rows]
    return np.concatenate(rows, axis=0)


def _nearest(x: np.ndarray, size: int) -> np.ndarray:
  """[R, R] -> [size, size] by pixel repetition."""
  f = size // x.shape[0]
  return np.repeat(np.repeat(np.asarray(x), f, 0), f, 1)
