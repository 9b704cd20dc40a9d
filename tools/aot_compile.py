"""Per-device memory of the paper-size train steps, compiled ahead of time for
meshes of simulated devices: no accelerator, nothing paper-sized allocated.

    python tools/aot_compile.py                          # the whole grid
    python tools/aot_compile.py --tasks psi3d --devices 8 --fsdp on \\
        --dtypes float32,bfloat16 --remat none,blocks,all

For every setting of the grid (task x devices x compute dtype x remat x
fsdp) the task's `train_step` is lowered from abstract shapes
(`jax.eval_shape` of the state, `ShapeDtypeStruct` batches with the loop's
shardings, the state donated as in `train.loop`) and compiled; one JSON line
reports XLA's `memory_analysis()` per device in GiB (arguments, outputs,
temporaries, outputs aliasing donated arguments) and whether arguments +
outputs + temporaries - aliased fit 80 and 40 GiB cards below `--headroom`.

THESE ARE XLA:CPU BUFFER-ASSIGNMENT FIGURES: an estimate of what a GPU or
TPU needs, not a measurement. XLA:GPU/TPU fuse differently, may keep some
bfloat16 work in bfloat16 where the CPU widens it, rematerialise on their
own when memory is short, and add their runtime's workspace.

Settings: remat "none" stores everything; "blocks" recomputes the
transformer blocks (`model.remat=full`); "all" also the renderer's ray
chunks (`render.remat`, `render.chunk_rays=--chunk_rays`). fsdp "on" is the
mesh {fsdp: N} (state split N ways by the config's sharding rules), "off"
{data: N} (state replicated); the global batch splits over both. The device
count is set for the largest of --devices before jax is imported; smaller
meshes use the first devices.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import os
import time

REMAT = {"none": dict(), "blocks": {"model.remat": "full"},
         "all": {"model.remat": "full", "render.remat": True}}
NOTE = "XLA:CPU buffer assignment; an estimate of GPU/TPU memory"


def _parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  csv = lambda s: s.split(",")   # noqa: E731
  parser.add_argument("--tasks", type=csv, default=["psi3d", "psi4d"])
  parser.add_argument("--devices", type=lambda s: [int(n) for n in
                                                   s.split(",")],
                      default=[8, 32])
  parser.add_argument("--dtypes", type=csv, default=["float32", "bfloat16"])
  parser.add_argument("--remat", type=csv, default=list(REMAT))
  parser.add_argument("--fsdp", type=csv, default=["on", "off"])
  parser.add_argument("--batch", type=int, default=32, help="global batch")
  parser.add_argument("--chunk_rays", type=int, default=4096,
                      help="rays per renderer chunk with remat 'all'")
  parser.add_argument("--headroom", type=float, default=0.9,
                      help="share of a card's memory a setting may use")
  parser.add_argument("--set", action="append", default=[],
                      metavar="KEY=VALUE",
                      help="any other config override, e.g. data.target_views=2")
  args = parser.parse_args(argv)
  unknown = set(args.remat) - set(REMAT)
  if unknown or not set(args.fsdp) <= {"on", "off"}:
    parser.error(f"--remat takes {sorted(REMAT)}, --fsdp on/off")
  return args


def _config(task: str, overrides: dict):
  import configs   # pylint: disable=import-outside-toplevel
  config = configs.preset(task, "paper")
  config.update_from_flattened_dict(overrides)
  return config


def _batch(config) -> dict:
  """Shapes and dtypes of one global batch (built at batch 1, then widened)."""
  # pylint: disable=import-outside-toplevel
  from p4d_jax.data import multiview_batches
  from p4d_jax.data import psi4d_batches
  if config.task == "psi4d":
    one = psi4d_batches.synthetic_batch(1, config.image_size,
                                        config.neural_resolution)
  else:
    one = multiview_batches.synthetic_batch(1, config.image_size,
                                            1 + config.data.target_views)
  return {k: ((config.batch_size, *v.shape[1:]), v.dtype)
          for k, v in one.items()}


def compile_one(task_name: str, devices: int, dtype: str, remat: str,
                fsdp: str, args) -> dict:
  # pylint: disable=import-outside-toplevel
  import jax
  from p4d_jax.parallel import mesh as mesh_lib
  from p4d_jax.tasks import runs
  from p4d_jax.train import jit_step

  overrides = {"batch_size": args.batch, "model.compute_dtype": dtype,
               **REMAT[remat],
               **{k: ast.literal_eval(v) for k, v in
                  (o.split("=", 1) for o in args.set)}}
  if remat == "all":
    overrides["render.chunk_rays"] = args.chunk_rays
  config = _config(task_name, overrides)
  task = runs.task_kind(task_name).task(config)
  mesh = mesh_lib.make_mesh({"fsdp" if fsdp == "on" else "data": devices},
                            jax.devices()[:devices])
  jitted = jit_step.build(task, mesh)
  batch_sharding = mesh_lib.batch_sharding(mesh)
  batch = {k: jax.ShapeDtypeStruct(shape, dt, sharding=batch_sharding)
           for k, (shape, dt) in _batch(config).items()}
  key = jax.eval_shape(lambda: jax.random.key(0))
  start = time.perf_counter()
  compiled = jitted.step.lower(jitted.abstract_state, batch, key).compile()
  compile_s = time.perf_counter() - start
  mem = compiled.memory_analysis()
  total = (mem.argument_size_in_bytes + mem.output_size_in_bytes +
           mem.temp_size_in_bytes - mem.alias_size_in_bytes)
  gib = lambda n: round(n / 2**30, 2)   # noqa: E731
  return dict(
      task=task_name, devices=devices, mesh=dict(mesh.shape),
      batch=args.batch, per_device_batch=args.batch // devices,
      compute_dtype=dtype, remat=remat, fsdp=fsdp,
      chunk_rays=config.render.chunk_rays,
      argument_gib=gib(mem.argument_size_in_bytes),
      output_gib=gib(mem.output_size_in_bytes),
      temp_gib=gib(mem.temp_size_in_bytes),
      alias_gib=gib(mem.alias_size_in_bytes), per_device_gib=gib(total),
      fits_80gib=total <= args.headroom * 80 * 2**30,
      fits_40gib=total <= args.headroom * 40 * 2**30,
      headroom=args.headroom, compile_s=round(compile_s, 1), source=NOTE)


def main(argv=None) -> None:
  args = _parse(argv)
  # Before jax is imported: enough simulated CPU devices for every mesh.
  os.environ["XLA_FLAGS"] = (
      os.environ.get("XLA_FLAGS", "") +
      f" --xla_force_host_platform_device_count={max(args.devices)}").strip()
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  print(json.dumps(dict(note=NOTE, headroom=args.headroom)), flush=True)
  for setting in itertools.product(args.tasks, args.devices, args.dtypes,
                                   args.remat, args.fsdp):
    print(json.dumps(compile_one(*setting, args)), flush=True)


if __name__ == "__main__":
  main()
