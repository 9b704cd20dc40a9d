"""Throughput of the pseudo multi-view stage and of its reader.

  python tools/bench_pseudo_views.py                  # psi3d:tiny on clips/small
  python tools/bench_pseudo_views.py --checkpoint=runs/psi3d_tiny --clips=16

Renders the first `--clips` SynthHeads clips with a Psi3d (a run's EMA
weights, or random configs/psi3d.py:tiny weights: the speed is the same)
into fresh temp directories `--repeats` times after one warm-up batch, then
reads the records back through `pseudo_view_reader.clips`. One JSON line
per figure: stage frames/s (median and all runs), bytes per frame, reader
frames/s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time

import jax
import numpy as np

import configs
from configs import psi3d as psi3d_config
from configs import pseudo_views as stage_config
from p4d_jax import user_errors
from p4d_jax.data import pseudo_view_manifest
from p4d_jax.data import pseudo_view_reader
from p4d_jax.data import clip_sources
from p4d_jax.rendering import camera_settings
from p4d_jax.models import model as model_lib
from p4d_jax.stages import pseudo_views
from p4d_jax.tasks import runs


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--checkpoint", default="",
                 help="a Psi3d run directory (default: random tiny weights)")
  p.add_argument("--size", default="small", help="SynthHeads clips size")
  p.add_argument("--data_dir", default="")
  p.add_argument("--clips", type=int, default=8, help="clips per run")
  p.add_argument("--views", type=int, default=4)
  p.add_argument("--frames_per_batch", type=int, default=8)
  p.add_argument("--repeats", type=int, default=3)
  return p.parse_args(argv)


def main(argv=None):
  args = parse_args(argv)
  if args.checkpoint:
    run = runs.load_run(args.checkpoint, defaults=configs.preset,
                        task="psi3d")
    model, params = run.model, run.params
  else:
    model = model_lib.Model.from_config(psi3d_config.get_config("tiny"))
    params = jax.jit(model.init)(jax.random.key(0))
  source = clip_sources.synthheads_clips(args.size, "train", args.data_dir)
  count = min(args.clips, len(source.frames))
  source = dataclasses.replace(source, name=f"{source.name}[:{count}]",
                               frames=source.frames[:count])
  settings = pseudo_views.Settings(
      checkpoint=args.checkpoint or "random", checkpoint_step=0,
      clips=source.name, num_clips=count, views=args.views,
      ranges=camera_settings.RandomViewRanges(**{
          k: tuple(v) for k, v in stage_config.get_config().cameras.items()}),
      seed=0, num_shards=min(4, count),
      frames_per_batch=args.frames_per_batch, store_masks=True,
      store_depth=True)
  renderer = pseudo_views.PseudoViewRenderer(model, params,
                                             args.frames_per_batch)
  clip = source.get(0)
  t0 = time.perf_counter()
  renderer(clip["image"][:1], np.tile(np.eye(4, dtype=np.float32),
                                       (1, args.views, 1, 1)),
           np.tile(np.eye(3, dtype=np.float32), (1, args.views, 1, 1)),
           jax.random.key(0))
  compile_s = time.perf_counter() - t0
  rates, sizes, read_rates = [], [], []
  for _ in range(args.repeats):
    # The stage's progress lines go to stderr: stdout carries the JSON.
    with tempfile.TemporaryDirectory() as out, \
        contextlib.redirect_stdout(sys.stderr):
      summary = pseudo_views.run(source, renderer, settings, out)
      rates.append(summary["frames_per_second"])
      manifest = pseudo_view_manifest.load(out)
      sizes.append(sum(s["bytes"] for s in manifest["shards"]) /
                   manifest["records"])
      t0 = time.perf_counter()
      frames = sum(len(c["frame_index"]) for c in pseudo_view_reader.clips(
          out, seed=0, epochs=1))
      read_rates.append(frames / (time.perf_counter() - t0))
  common = dict(size=args.size, image_size=model.image_size,
                views=args.views, frames=sum(source.frames),
                devices=len(jax.local_devices()), backend=jax.default_backend())
  lines = [
      dict(figure="pseudo_views_stage_frames_per_s",
           median=statistics.median(rates), runs=rates,
           compile_s=compile_s, **common),
      dict(figure="pseudo_views_bytes_per_frame",
           median=statistics.median(sizes), **common),
      dict(figure="pseudo_views_reader_frames_per_s",
           median=statistics.median(read_rates), runs=read_rates, **common)]
  for line in lines:
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
  user_errors.ensure_allocator()
  main()
