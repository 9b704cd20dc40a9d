"""Converts the released Portrait4D-v2 generator (and the PD-FGC motion
extractor its inference uses) into a run directory of this project, which
tools/reenact.py, tools/evaluate.py and train.init_from take as they take a
trained Psi run.

  bash launch/run.sh python tools/convert_official.py \\
      portrait4d-v2-vfhq512.pkl --pdfgc=motion_model.pth --out=runs/official

CHECKPOINT: the official network pickle (its G_ema by default; --module
  picks another network), or the generator's state dict as a torch file
  (.pth/.pt/.bin) or a numpy archive (.npz) of the same keys. Nothing is
  downloaded; bring the files (see README, "Official weights"). No torch
  needed.
--pdfgc: PD-FGC's motion_model.pth (torch, or .npz of the same keys); the
  run's motion source is then PD-FGC ("pdfgc"). Without it the run takes
  548-d motion codes computed elsewhere (motion kind "codes").

Every official key is read or listed as ignored (the FLAME deformer, noise
buffers, fixed filters), every parameter is filled, and a missing,
unexpected or misshapen key stops the conversion with one line naming it.
The run is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import configs
from p4d_jax import run_weights
from p4d_jax import tree_paths
from p4d_jax import user_errors
from p4d_jax.media import atomic
from p4d_jax.models import model as model_lib
from p4d_jax.models.official import checkpoint_files
from p4d_jax.models.official import generator_weights
from p4d_jax.models.official import key_mapping
from p4d_jax.models.official import pdfgc_weights

PRESET = "official"
# The official inference's renderer settings this code's preset assumes
# (rendering_kwargs of the pickle), and how they are named there.
RENDERING = dict(depth_resolution=48, depth_resolution_importance=48,
                 box_warp=1.3, ray_start="auto-plane", ray_end="auto-plane",
                 superresolution_noise_mode="none", clamp_mode="softplus")


def parse_args(argv=None):
  p = user_errors.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("checkpoint", help="official .pkl, or a .pth/.pt/.bin/.npz "
                 "state dict of the generator")
  p.add_argument("--out", required=True,
                 help="output run directory (new, or empty)")
  p.add_argument("--module", default="G_ema",
                 help="the network of a .pkl to convert (default G_ema)")
  p.add_argument("--pdfgc", default="",
                 help="PD-FGC motion_model.pth (or .npz): the motion source")
  args = p.parse_args(argv)
  if args.pdfgc and not os.path.isfile(args.pdfgc):
    p.error(f"--pdfgc {args.pdfgc}: no such file (PD-FGC's "
            "motion_model.pth)")
  user_errors.check_new_directory(args.out, "--out")
  return args


def settings_warnings(attrs: dict) -> list[str]:
  """The pickle's inference settings that differ from the preset's."""
  kwargs = attrs.get("rendering_kwargs") or {}
  notes = [f"rendering_kwargs[{k!r}] is {kwargs[k]!r}, this preset uses {v!r}"
           for k, v in RENDERING.items() if k in kwargs and kwargs[k] != v]
  res = attrs.get("neural_rendering_resolution")
  if res not in (None, 128):
    notes.append(f"neural_rendering_resolution is {res}, this preset uses 128")
  return notes


def convert(args) -> dict:
  """The run's config and parameters (numpy), and what was done."""
  config = configs.preset("psi4d", PRESET)
  config.motion.kind = "pdfgc" if args.pdfgc else "codes"
  model = model_lib.Model.from_config(config)
  like = {k: v.shape for k, v in
          tree_paths.named_leaves(model.abstract_params).items()}
  state_dict, attrs = checkpoint_files.read_state_dict(args.checkpoint,
                                                       args.module)
  try:
    named = generator_weights.convert(
        state_dict, {k: v for k, v in like.items()
                     if not k.startswith(pdfgc_weights.PREFIX + "/")})
  except key_mapping.WeightsMismatch as err:
    raise user_errors.UserError(f"{args.checkpoint}: {err}") from err
  ignored = sorted(k for k in state_dict
                   if generator_weights.ignored_reason(k) is not None)
  report = dict(checkpoint=os.path.abspath(args.checkpoint),
                module=args.module, keys=len(state_dict),
                ignored=ignored, settings_warnings=settings_warnings(attrs))
  if args.pdfgc:
    motion, _ = checkpoint_files.read_state_dict(args.pdfgc, "model")
    try:
      named.update(pdfgc_weights.convert(motion, like))
    except key_mapping.WeightsMismatch as err:
      raise user_errors.UserError(f"--pdfgc {args.pdfgc}: {err}") from err
    report.update(pdfgc=os.path.abspath(args.pdfgc), pdfgc_keys=len(motion))
  params = tree_paths.fill(model.abstract_params, named)
  return dict(config=json.loads(config.to_json_best_effort()),
              params=params, report=report)


def main(argv=None):
  args = parse_args(argv)
  user_errors.check_writable(os.path.dirname(os.path.abspath(args.out)),
                             "--out's parent")
  tic = time.perf_counter()
  done = convert(args)
  read_s = time.perf_counter() - tic
  with atomic.atomic_dir(args.out) as tmp:
    run_weights.write(tmp, done["config"], done["params"])
    atomic.write_json(os.path.join(tmp, "converted_from.json"),
                      done["report"], indent=2)
  report = done["report"]
  for note in report["settings_warnings"]:
    print(f"[convert_official] warning: {note}", flush=True)
  print(f"[convert_official] {report['keys']} keys read "
        f"({len(report['ignored'])} ignored: deformer, noise, fixed buffers; "
        f"listed in converted_from.json), motion "
        f"{done['config']['motion']['kind']}; read and mapped in "
        f"{read_s:.1f} s, written in "
        f"{time.perf_counter() - tic - read_s:.1f} s: {args.out}", flush=True)
  return done["report"]


if __name__ == "__main__":
  user_errors.run(main)
