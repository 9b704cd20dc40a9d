"""SynthHeads renderer throughput: one JSON line per (resolution, supersample).

  python tools/bench_synthheads.py                 # 64 and 128, s = 1 and 2
  python tools/bench_synthheads.py --resolutions 64 --repeats 7

Each line: images/s as the median over `repeats` timed calls of `batch`
random scenes and views (compile excluded), plus the compile time.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from p4d_jax import user_errors
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import motion
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import render
from p4d_jax.rendering import camera_settings


def parse_args(argv=None):
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--resolutions", default="64,128")
  p.add_argument("--supersample", default="1,2")
  p.add_argument("--batch", type=int, default=16)
  p.add_argument("--repeats", type=int, default=5)
  return p.parse_args(argv)


def random_batch(batch: int, seed: int = 0):
  scenes = [examples.still_scene(seed, i) for i in range(batch)]
  cams = motion.random_view_cameras(np.random.default_rng(seed), batch,
                                    camera_settings.RandomViewRanges())
  intr = np.broadcast_to(examples.INTRINSICS, (batch, 3, 3))
  return P.Scene(*(np.stack(f) for f in zip(*scenes))), cams, intr


def main(argv=None):
  args = parse_args(argv)
  scene, cams, intr = random_batch(args.batch)
  for res in (int(r) for r in args.resolutions.split(",")):
    for ss in (int(s) for s in args.supersample.split(",")):
      t0 = time.perf_counter()
      render.render(scene, cams, intr, res, supersample=ss)
      first = time.perf_counter() - t0
      times = []
      for _ in range(args.repeats):
        t0 = time.perf_counter()
        render.render(scene, cams, intr, res, supersample=ss)
        times.append(time.perf_counter() - t0)
      median = statistics.median(times)
      print(json.dumps(dict(
          bench="synthheads_render", resolution=res, supersample=ss,
          batch=args.batch, images_per_s=round(args.batch / median, 2),
          median_s=round(median, 3), min_s=round(min(times), 3),
          max_s=round(max(times), 3), compile_s=round(first - median, 1),
          repeats=args.repeats, machine=platform.machine())), flush=True)


if __name__ == "__main__":
  user_errors.ensure_allocator()
  main()
