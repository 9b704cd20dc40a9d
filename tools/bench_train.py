"""Psi3d training-step speed and memory at tiny size.

    bash launch/run.sh python tools/bench_train.py

configs/psi3d.py:tiny on `multiview_batches.synthetic_batch`es (64^2
input, 32^2 neural rendering, 24 + 24 samples, batch 4, one target view
besides the input), one CPU device; median step time of --iters steps after
a compiling one, images/s, and the process's peak RSS:

  {"bench": "train_step", "config": "psi3d:tiny", "step_ms": ...,
   "images_per_s": ..., "compile_s": ..., "peak_rss_mib": ...}

Paper-size memory (ahead-of-time compiles for simulated meshes) is
tools/aot_compile.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

from p4d_jax import user_errors

def _config(arg: str):
  from configs import psi3d   # pylint: disable=import-outside-toplevel
  return psi3d.get_config(arg)


def _batch(config) -> dict:
  from p4d_jax.data import multiview_batches   # pylint: disable=import-outside-toplevel
  return multiview_batches.synthetic_batch(
      config.batch_size, config.image_size, 1 + config.data.target_views)


def bench_tiny(iters: int) -> dict:
  import jax   # pylint: disable=import-outside-toplevel
  import numpy as np   # pylint: disable=import-outside-toplevel
  # pylint: disable=import-outside-toplevel
  from p4d_jax.parallel import hosts
  from p4d_jax.parallel import mesh as mesh_lib
  from p4d_jax.tasks import psi3d
  from p4d_jax.train import jit_step

  config = _config("tiny")
  task = psi3d.Psi3dTask(config)
  # The loop's own jitted step on one device (state donated, sharded by the
  # task's rules), so that the benchmark times what training runs.
  mesh = mesh_lib.make_mesh({"data": 1}, jax.devices()[:1])
  jitted = jit_step.build(task, mesh)
  state = jitted.init(jax.random.key(0))
  batch = hosts.global_batch(_batch(config), mesh_lib.batch_sharding(mesh))
  step = jitted.step
  start = time.perf_counter()
  state, metrics = step(state, batch, jax.random.key(0))
  jax.block_until_ready(metrics)
  compile_s = time.perf_counter() - start
  times = []
  for i in range(iters):
    start = time.perf_counter()
    state, metrics = step(state, batch, jax.random.key(i + 1))
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - start)
  step_s = float(np.median(times))
  return dict(bench="train_step", config="psi3d:tiny",
              batch=config.batch_size, step_ms=round(1e3 * step_s, 1),
              step_ms_range=[round(1e3 * min(times), 1),
                             round(1e3 * max(times), 1)],
              images_per_s=round(config.batch_size / step_s, 2),
              compile_s=round(compile_s, 1), iters=iters,
              peak_rss_mib=round(resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss / 1024))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--iters", type=int, default=10)
  args = parser.parse_args(argv)
  print(json.dumps(bench_tiny(args.iters)), flush=True)


if __name__ == "__main__":
  user_errors.ensure_allocator()
  main()
