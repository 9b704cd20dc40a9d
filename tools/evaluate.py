"""Batch evaluation with a JSON + HTML report.

A Psi run on SynthHeads' held-out reenactment pairs (exact targets):
  python tools/evaluate.py --workdir=runs/psi4d_tiny --out=outputs/eval \\
      [--synthheads_size=small --pairs=64 --lpips_weights=weights/lpips_vgg]

Any results against folders (images matched by sorted file name):
  python tools/evaluate.py --pred=results/ --target=gt/ [--source=src.png] \\
      [--driving=frames/] --out=outputs/eval

Writes OUT/metrics.json (summary per group, per-item rows, notes) and
OUT/report.html (open it in a browser: tables, image grids, histograms).
Each metric runs when its inputs are there; the report says which did not
and why.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from absl import logging

import configs
from p4d_jax import user_errors
from p4d_jax.evaluation import html_report
from p4d_jax.evaluation import suite
from p4d_jax import progress
from p4d_jax.media import image_io
from p4d_jax.media import video_io

GRID_ROWS = 8
# Per-pair metrics of the SynthHeads reenactment renders
# (evaluation/reenactment.py).
RENDER_METRICS = ("novel_psnr", "depth_error", "head_opacity",
                  "geometry_consistency",
                  "eyes_psnr", "mouth_psnr",
                  "static_eyes_psnr", "static_mouth_psnr",
                  "shuffled_eyes_psnr", "shuffled_mouth_psnr", "driver_rms",
                  "baseline_psnr")


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", "--run", dest="workdir", default="",
                 help="a Psi run (SynthHeads mode)")
  p.add_argument("--step", type=int, default=None)
  p.add_argument("--synthheads_size", default="",
                 help="eval pairs set (default: the run's eval config)")
  p.add_argument("--pairs", type=int, default=0, help="0: the run's config")
  p.add_argument("--data_dir", default="")
  p.add_argument("--pred", default="", help="folder of results")
  p.add_argument("--target", default="", help="folder of ground truth")
  p.add_argument("--source", default="", help="source image or folder")
  p.add_argument("--driving", default="", help="folder of driving frames")
  p.add_argument("--lpips_weights", default="",
                 help="tools/convert_lpips.py's run directory: adds LPIPS")
  p.add_argument("--inception_weights", default="",
                 help="tools/convert_inception.py's run directory: adds FID")
  p.add_argument("--face_metrics", action=argparse.BooleanOptionalAction,
                 default=True, help="dlib identity similarity and AKD")
  p.add_argument("--motion_fit", action="store_true",
                 help="SynthHeads mode: AED/APD by fitting the motion of "
                 "every result and target (about 15 s per image at 64^2)")
  p.add_argument("--out", default="outputs/eval")
  p.add_argument("--batch", type=int, default=16)
  args = p.parse_args(argv)
  if bool(args.workdir) == bool(args.pred):
    p.error("give either --workdir (a Psi run) or --pred (a folder).")
  if args.motion_fit and not args.workdir:
    p.error("--motion_fit needs SynthHeads' ground truth: use --workdir.")
  return args


def read_folder(path: str, count: int | None = None) -> tuple[list, np.ndarray]:
  """(names, uint8 [N, H, W, 3]) of the images in a folder, or one image
  repeated `count` times."""
  if os.path.isfile(path):
    image = image_io.read_image(path)[None]
    return [os.path.basename(path)], np.repeat(image, count or 1, axis=0)
  return video_io.read_folder(path)


def folder_items(args) -> tuple[suite.Items, str]:
  names, pred = read_folder(args.pred)
  items = suite.Items(names=names, pred=pred)
  for role in ("target", "source", "driving"):
    path = getattr(args, role)
    if not path:
      continue
    _, images = read_folder(path, len(names))
    if len(images) != len(pred) or images.shape[1:] != pred.shape[1:]:
      raise user_errors.UserError(
          f"--{role} {path}: {len(images)} images of {images.shape[1:]}, "
          f"--pred has {len(pred)} of {pred.shape[1:]}; they must match one "
          "to one.")
    setattr(items, role, images)
  return items, f"results in {args.pred}"


def synthheads_items(args) -> tuple[suite.Items, str]:
  from p4d_jax.evaluation import reenactment  # pylint: disable=import-outside-toplevel
  from p4d_jax.tasks import runs  # pylint: disable=import-outside-toplevel
  run = runs.load_run(args.workdir, args.step, defaults=configs.preset,
                      task="psi4d")
  step, config = run.step, run.config
  overrides = dict(batch=args.batch, data_dir=args.data_dir)
  if args.synthheads_size:
    overrides["synthheads_size"] = args.synthheads_size
  if args.pairs:
    overrides["pairs"] = args.pairs
  config.eval.update(overrides)
  evaluator = reenactment.ReenactmentEvaluator(run.model, config, args.out)
  print(f"[evaluate] {args.workdir} step {step}: rendering "
        f"{len(evaluator.fields['image'])} SynthHeads eval pairs", flush=True)
  out = evaluator.per_pair(run.params)
  f = evaluator.fields
  u8 = image_io.to_uint8
  extra = {k: out[k] for k in RENDER_METRICS}
  if args.motion_fit:
    extra.update(motion_metrics(f, (out["image"] + 1.0) / 2.0))
  items = suite.Items(
      names=[f"pair_{i:04d}" for i in range(len(f["image"]))],
      pred=u8(out["image"]), target=u8(f["target_image"][:, 0]),
      source=u8(f["image"]), driving=u8(f["driving_image"]),
      groups=["cross" if c else "same" for c in f["cross_identity"]],
      extra=extra)
  return items, (f"Psi run {os.path.abspath(args.workdir)} step {step} on "
                 f"SynthHeads eval/{config.eval.synthheads_size}")


def motion_metrics(fields: dict, results: np.ndarray) -> dict:
  """AED / APD of the results [P, S, S, 3] in [0, 1] against the targets'
  exact motion, and of the exact targets themselves (the fit's floor)."""
  from p4d_jax.data.synthheads import params as P  # pylint: disable=import-outside-toplevel
  from p4d_jax.evaluation import motion_fit  # pylint: disable=import-outside-toplevel
  truth = np.concatenate([fields["target_expression"], fields["target_pose"]],
                         axis=1)
  out = {}
  for name, images in (("", results),
                       ("target_", (fields["target_image"][:, 0] + 1) / 2)):
    bar = progress.Progress(len(images), f"motion fit {name or 'results'}")
    fitted = []
    for i, image in enumerate(images):
      scene = P.Scene(identity=fields["source_identity"][i],
                      expression=None, pose=None,
                      lighting=fields["source_lighting"][i],
                      background=fields["source_background"][i])
      fitted.append(motion_fit.fit_one(image, scene,
                                       fields["target_world_c2w"][i])[0])
      bar.update(i + 1)
    for k, v in motion_fit.motion_errors(np.stack(fitted), truth).items():
      out[f"{name}{k}"] = v
  return out


def grid(items: suite.Items, rows: np.ndarray) -> np.ndarray:
  """uint8 rows of source | driving | result | target, where known."""
  cols = [x for x in (items.source, items.driving, items.pred, items.target)
          if x is not None]
  return np.concatenate([np.concatenate([c[i] for c in cols], axis=1)
                         for i in np.flatnonzero(rows)[:GRID_ROWS]], axis=0)


def main(argv=None) -> dict:
  args = parse_args(argv)
  logging.set_verbosity(logging.WARNING)
  user_errors.check_writable(args.out, "--out")   # before the metrics
  items, what = synthheads_items(args) if args.workdir else folder_items(args)
  options = suite.Options(lpips_weights=args.lpips_weights,
                          inception_weights=args.inception_weights,
                          face_metrics=args.face_metrics, batch=args.batch)
  summary, rows, notes, values = suite.summarise(items, options)
  groups = suite.group_rows(items)
  labels = [x for x, present in (("source", items.source),
                                 ("driving", items.driving), ("result", 1),
                                 ("target", items.target))
            if present is not None]
  figures = [html_report.image_tag(grid(items, m),
                                   f"{g}: {' | '.join(labels)}")
             for g, m in groups.items() if g != "all" or len(groups) == 1]
  figures += [html_report.histogram_svg(
      name, {g: np.asarray(v)[m] for g, m in groups.items()
             if g != "all" or len(groups) == 1})
              for name, v in values.items()]
  paths = html_report.write(args.out, f"p4d_jax evaluation: {what}", summary,
                            rows, figures, [what] + notes,
                            dict(inputs=vars(args)))
  for line in summary:
    print("[evaluate] " + "  ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in line.items()))
  for note in notes:
    print(f"[evaluate] note: {note}")
  print(f"[evaluate] report: {paths['html']}\n[evaluate] metrics: "
        f"{paths['json']}")
  return dict(summary=summary, paths=paths, notes=notes)


if __name__ == "__main__":
  user_errors.run(main)
