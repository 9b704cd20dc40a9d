"""Psi3d training-step speed and memory; an AOT compile of the paper size.

    bash launch/run.sh python tools/bench_train.py            # both
    bash launch/run.sh python tools/bench_train.py --only tiny
    bash launch/run.sh python tools/bench_train.py --only paper_aot

`tiny`: configs/psi3d.py:tiny on `multiview_batches.synthetic_batch`es (64^2
input, 32^2 neural rendering, 24 + 24 samples, batch 4, one target view
besides the input), one CPU device; median step time of --iters steps after
a compiling one, images/s, and the process's peak RSS:

  {"bench": "train_step", "config": "psi3d:tiny", "step_ms": ...,
   "images_per_s": ..., "compile_s": ..., "peak_rss_mib": ...}

`paper_aot`: configs/psi3d.py:paper's train step lowered and compiled ahead
of time for an 8-device ("data", "fsdp") mesh of simulated CPU devices,
from abstract shapes only (nothing allocated), printing XLA's per-device
memory estimate:

  {"bench": "aot_train_step", "config": "psi3d:paper", "mesh": {...},
   "batch": 32, "params": ..., "argument_gib": ..., "output_gib": ...,
   "temp_gib": ..., "per_device_gib": ..., "compile_s": ...}

(`--set render.chunk_rays=4096 --set render.remat=True` compiles a variant.)

Each part runs in its own process (its own device count and peak RSS).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(arg: str, overrides=()):
  """configs/psi3d.py:arg with "section.key=value" overrides."""
  sys.path.insert(0, ROOT)
  from configs import psi3d   # pylint: disable=import-outside-toplevel
  config = psi3d.get_config(arg)
  config.update_from_flattened_dict(
      {k: ast.literal_eval(v) for k, v in (o.split("=", 1) for o in overrides)})
  return config


def _batch(config) -> dict:
  from p4d_jax.tasks import multiview_batches   # pylint: disable=import-outside-toplevel
  return multiview_batches.synthetic_batch(
      config.batch_size, config.image_size, 1 + config.data.target_views)


def bench_tiny(iters: int) -> dict:
  import jax   # pylint: disable=import-outside-toplevel
  import numpy as np   # pylint: disable=import-outside-toplevel
  from p4d_jax.tasks import psi3d   # pylint: disable=import-outside-toplevel

  config = _config("tiny")
  task = psi3d.Psi3dTask(config)
  state = jax.jit(task.init_state)(jax.random.key(0))
  batch = _batch(config)
  step = jax.jit(task.train_step, donate_argnums=0)
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


def bench_paper_aot(fsdp: int, overrides=()) -> dict:
  import jax   # pylint: disable=import-outside-toplevel
  import numpy as np   # pylint: disable=import-outside-toplevel
  from p4d_jax.parallel import mesh as mesh_lib   # pylint: disable=import-outside-toplevel
  from p4d_jax.parallel import sharding   # pylint: disable=import-outside-toplevel
  from p4d_jax.tasks import psi3d   # pylint: disable=import-outside-toplevel

  config = _config("paper", overrides)
  task = psi3d.Psi3dTask(config)
  mesh = mesh_lib.make_mesh({"data": -1, "fsdp": fsdp})
  shapes = jax.eval_shape(task.init_state, jax.random.key(0))
  shardings = sharding.param_shardings(shapes, mesh, task.sharding_rules)
  state = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype,
                                                         sharding=s),
                       shapes, shardings)
  batch_sharding = mesh_lib.batch_sharding(mesh)
  batch = {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=batch_sharding)
           for k, v in _batch(config).items()}
  key = jax.eval_shape(lambda: jax.random.key(0))
  start = time.perf_counter()
  compiled = jax.jit(task.train_step, donate_argnums=0,
                     out_shardings=(shardings, None)).lower(
                         state, batch, key).compile()
  compile_s = time.perf_counter() - start
  mem = compiled.memory_analysis()
  gib = lambda n: round(n / 2**30, 2)   # noqa: E731
  params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(
      shapes["params"]))
  return dict(bench="aot_train_step", config="psi3d:paper",
              mesh=dict(mesh.shape), batch=config.batch_size, params=params,
              overrides=list(overrides),
              argument_gib=gib(mem.argument_size_in_bytes),
              output_gib=gib(mem.output_size_in_bytes),
              temp_gib=gib(mem.temp_size_in_bytes),
              per_device_gib=gib(mem.argument_size_in_bytes +
                                 mem.output_size_in_bytes +
                                 mem.temp_size_in_bytes -
                                 mem.alias_size_in_bytes),
              compile_s=round(compile_s, 1))


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--only", choices=("tiny", "paper_aot"))
  parser.add_argument("--iters", type=int, default=10)
  parser.add_argument("--fsdp", type=int, default=8,
                      help="fsdp axis size of the 8-device AOT mesh")
  parser.add_argument("--set", action="append", default=[],
                      metavar="KEY=VALUE",
                      help="paper config override, e.g. render.remat=True")
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    result = (bench_tiny(args.iters) if args.only == "tiny" else
              bench_paper_aot(args.fsdp, args.set))
    print(json.dumps(result), flush=True)
    return
  for part in ([args.only] if args.only else ["tiny", "paper_aot"]):
    env = dict(os.environ)
    if part == "paper_aot":
      env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                          " --xla_force_host_platform_device_count=8")
    subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                    "--only", part, "--iters", str(args.iters), "--fsdp",
                    str(args.fsdp)] + [f"--set={o}" for o in args.set],
                   env=env, check=True)


if __name__ == "__main__":
  main()
