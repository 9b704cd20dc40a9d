"""Per-device memory of the paper-size train steps, compiled ahead of time for
meshes of simulated devices: no accelerator, nothing paper-sized allocated.

    python tools/aot_compile.py                          # the whole grid
    python tools/aot_compile.py --tasks psi3d --devices 8 --fsdp on \\
        --dtypes float32,bfloat16 --remat none,blocks,all

    python tools/aot_compile.py --inference --dtypes float32,bfloat16

`--inference`: instead of training, one reenacted frame of the released
network (`configs/psi4d.py:official`, a converted run's settings): encode a
512^2 source, animate it with a 548-d driving code, render at 128^2 with 48 +
48 samples and super-resolve to 512^2, at `--batch` frames on one device.

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

from p4d_jax import user_errors

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
  parser.add_argument("--inference", action="store_true",
                      help="one reenacted frame of the released network "
                      "per batch element, on one device (see above)")
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
  from p4d_jax.models import motion
  from p4d_jax.tasks import psi4d
  if config.task == "psi4d":
    one = psi4d_batches.synthetic_batch(
        1, config.image_size, config.neural_resolution,
        depth=psi4d.uses_pseudo_depth(config),
        expressions=motion.KINDS[config.motion.kind].reads == "expression")
  else:
    one = multiview_batches.synthetic_batch(1, config.image_size,
                                            1 + config.data.target_views)
  return {k: ((config.batch_size, *v.shape[1:]), v.dtype)
          for k, v in one.items()}


def _memory(compiled) -> dict:
  """XLA's memory analysis of a compiled function, in GiB."""
  mem = compiled.memory_analysis()
  total = (mem.argument_size_in_bytes + mem.output_size_in_bytes +
           mem.temp_size_in_bytes - mem.alias_size_in_bytes)
  gib = lambda n: round(n / 2**30, 2)   # noqa: E731
  return dict(argument_gib=gib(mem.argument_size_in_bytes),
              output_gib=gib(mem.output_size_in_bytes),
              temp_gib=gib(mem.temp_size_in_bytes),
              alias_gib=gib(mem.alias_size_in_bytes), per_device_gib=gib(total),
              total_bytes=total)


def _fits(total: int, headroom: float) -> dict:
  return dict(fits_80gib=total <= headroom * 80 * 2**30,
              fits_40gib=total <= headroom * 40 * 2**30, headroom=headroom)


def compile_inference(dtype: str, args) -> dict:
  """One reenacted frame per batch element at the released settings."""
  # pylint: disable=import-outside-toplevel
  import jax
  import jax.numpy as jnp
  import configs
  from p4d_jax.models import model as model_lib

  config = configs.preset("psi4d", "official")
  config.update_from_flattened_dict({"model.compute_dtype": dtype})
  model = model_lib.Model.from_config(config)
  b, s = args.batch, config.image_size
  motion = model.sizes.canonical.motion_dim
  shape = jax.ShapeDtypeStruct

  def frame(params, image, c2w, intrinsics, source, driving, key):
    return model.render_views(params, image, c2w, intrinsics, key, source,
                              driving)["image"]

  start = time.perf_counter()
  compiled = jax.jit(frame).lower(
      model.abstract_params, shape((b, s, s, 3), jnp.float32),
      shape((b, 1, 4, 4), jnp.float32), shape((b, 1, 3, 3), jnp.float32),
      shape((b, motion), jnp.float32), shape((b, motion), jnp.float32),
      jax.eval_shape(lambda: jax.random.key(0))).compile()
  mem = _memory(compiled)
  return dict(task="reenact_frame", preset="psi4d:official", devices=1,
              batch=b, image=s, neural=config.neural_resolution,
              compute_dtype=dtype,
              **{k: v for k, v in mem.items() if k != "total_bytes"},
              **_fits(mem["total_bytes"], args.headroom),
              compile_s=round(time.perf_counter() - start, 1), source=NOTE)


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
  mem = _memory(compiled)
  return dict(
      task=task_name, devices=devices, mesh=dict(mesh.shape),
      batch=args.batch, per_device_batch=args.batch // devices,
      compute_dtype=dtype, remat=remat, fsdp=fsdp,
      chunk_rays=config.render.chunk_rays,
      **{k: v for k, v in mem.items() if k != "total_bytes"},
      **_fits(mem["total_bytes"], args.headroom),
      compile_s=round(compile_s, 1), source=NOTE)


def main(argv=None) -> None:
  args = _parse(argv)
  # Before jax is imported: enough simulated CPU devices for every mesh.
  os.environ["XLA_FLAGS"] = (
      os.environ.get("XLA_FLAGS", "") +
      f" --xla_force_host_platform_device_count={max(args.devices)}").strip()
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  print(json.dumps(dict(note=NOTE, headroom=args.headroom)), flush=True)
  if args.inference:
    for dtype in args.dtypes:
      print(json.dumps(compile_inference(dtype, args)), flush=True)
    return
  for setting in itertools.product(args.tasks, args.devices, args.dtypes,
                                   args.remat, args.fsdp):
    print(json.dumps(compile_one(*setting, args)), flush=True)


if __name__ == "__main__":
  user_errors.ensure_allocator()
  main()
