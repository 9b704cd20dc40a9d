"""Psi3d training step: its speed, the real loop's, cost curves, and parts.

    bash launch/run.sh python tools/bench_train.py [--what step,loop,sweeps,parts]
        [--iters 32] [--loop_steps 150] [--out outputs/bench_train]

configs/psi3d.py:tiny (64^2 input, 32^2 neural rendering, 24 + 24 samples,
batch 4, one target view besides the input, so 8 renders a step), one CPU
device, always through the loop's own jitted step (jit_step.build: state
donated, laid out by the task's sharding rules), so that every figure times
what training runs. One JSON line per figure:

  step    mean step time over --iters steps after a compiling one (so a
          multiple of 16 counts the periodic density-TV steps as a run
          does), its median, on a synthetic batch; images/s, compile time,
          peak RSS:
          {"bench": "train_step", "step_ms", "images_per_s", "compile_s", ...}
  loop    the training loop itself (p4d_jax/train/loop.py) on SynthHeads
          multiview `small` (grain reading, metrics fetched each step as
          training does; no evaluation, no checkpoint inside the timing) for
          --loop_steps steps; its ms per step after the compiling step and
          the ratio to `step` (needs `make_synthheads.py --kinds multiview`):
          {"bench": "train_loop", "step_ms", "vs_step", ...}
  sweeps  one knob at a time moved from tiny's setting (neural resolution,
          samples per ray, batch): step ms, XLA's temporaries and FLOPs,
          rays/s; OUT/cost_curves.png plots them:
          {"bench": "cost", "knob", "value", "step_ms", "temp_mib", ...}
  parts   where the step's time goes, each part forward + backward on its
          own (encoder and transformers; the field MLP on as many features
          as the renderer decodes; sampling, lookups and compositing, i.e.
          the renderer less the MLP; super-resolution):
          {"bench": "cost_part", ...}

OUT/bench_train.jsonl keeps the lines. This machine is noisy: compare
figures within one run, and quote medians of several runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np

from p4d_jax import user_errors

WHAT = ("step", "loop", "sweeps", "parts")
SWEEPS = {"neural_resolution": (16, 32, 64), "samples": (12, 24, 48),
          "batch": (1, 2, 4, 8)}
MIB = 2**20


def tiny(knob: str | None = None, value: int | None = None):
  """configs/psi3d.py:tiny with one knob moved."""
  from configs import psi3d   # pylint: disable=import-outside-toplevel
  config = psi3d.get_config("tiny")
  if knob == "neural_resolution":
    config.neural_resolution = value
    config.image_size = 2 * value          # the super-resolution's factor
  elif knob == "samples":
    config.render.num_coarse = config.render.num_fine = value
  elif knob == "batch":
    config.batch_size = value
  return config


def median_seconds(fn, *args, iters: int) -> float:
  """Median seconds of fn(*args) over `iters` calls after a compiling one."""
  import jax   # pylint: disable=import-outside-toplevel
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def _one_device_step(config):
  """(task, jitted step, its fresh state, a synthetic global batch)."""
  # pylint: disable=import-outside-toplevel
  import jax
  from p4d_jax.data import multiview_batches
  from p4d_jax.parallel import hosts
  from p4d_jax.parallel import mesh as mesh_lib
  from p4d_jax.tasks import psi3d
  from p4d_jax.train import jit_step
  task = psi3d.Psi3dTask(config)
  mesh = mesh_lib.make_mesh({"data": 1}, jax.devices()[:1])
  jitted = jit_step.build(task, mesh)
  batch = hosts.global_batch(multiview_batches.synthetic_batch(
      config.batch_size, config.image_size, 1 + config.data.target_views),
                             mesh_lib.batch_sharding(mesh))
  return task, jitted, jitted.init(jax.random.key(0)), batch


def _step_times(step, state, batch, iters: int) -> tuple[list[float], float]:
  """Seconds of each of `iters` steps after a compiling one (the state is
  donated, so it is threaded through), and the compiling step's."""
  import jax   # pylint: disable=import-outside-toplevel
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
  return times, compile_s


def bench_step(iters: int) -> dict:
  """The mean step (what a run pays: every `loss.density_tv_every`-th step
  also computes the density TV, ~1.7x a plain step), and the median."""
  config = tiny()
  _, jitted, state, batch = _one_device_step(config)
  times, compile_s = _step_times(jitted.step, state, batch, iters)
  step_s = float(np.mean(times))
  return dict(bench="train_step", config="psi3d:tiny",
              batch=config.batch_size, step_ms=round(1e3 * step_s, 1),
              step_ms_median=round(1e3 * float(np.median(times)), 1),
              step_ms_range=[round(1e3 * min(times), 1),
                             round(1e3 * max(times), 1)],
              images_per_s=round(config.batch_size / step_s, 2),
              compile_s=round(compile_s, 1), iters=iters,
              peak_rss_mib=round(resource.getrusage(
                  resource.RUSAGE_SELF).ru_maxrss / 1024))


def bench_loop(steps: int, step_ms: float | None) -> dict:
  """The loop's ms per step between its second step and its last but one
  (the first compiles; the last saves a checkpoint)."""
  # pylint: disable=import-outside-toplevel
  from p4d_jax.tasks import psi3d
  from p4d_jax.train import loop
  config = tiny()
  stamps = {}
  cfg = loop.LoopConfig(total_steps=steps, log_every=steps - 1,
                        checkpoint_every=10 * steps)   # the run's mesh
  # The loop's own log goes to stderr: stdout carries the JSON lines.
  with tempfile.TemporaryDirectory() as workdir, \
      contextlib.redirect_stdout(sys.stderr):
    loop.run(psi3d.Psi3dTask(config), cfg, workdir,
             after_step=lambda s: stamps.setdefault(s, time.perf_counter()))
  # log_every = steps - 1 fetches that step's metrics, so its stamp is
  # taken once the device has finished it.
  ms = 1e3 * (stamps[steps - 1] - stamps[1]) / (steps - 2)
  line = dict(bench="train_loop", config="psi3d:tiny",
              data=f"synthheads multiview {config.data.size}",
              steps=steps, step_ms=round(ms, 1),
              images_per_s=round(1e3 * config.batch_size / ms, 2))
  if step_ms:
    line["vs_step"] = round(ms / step_ms, 3)
  return line


def bench_sweeps(iters: int) -> list[dict]:
  import jax   # pylint: disable=import-outside-toplevel
  lines = []
  for knob, values in SWEEPS.items():
    for value in values:
      config = tiny(knob, value)
      _, jitted, state, batch = _one_device_step(config)
      compiled = jitted.step.lower(state, batch, jax.random.key(0)).compile()
      memory, flops = compiled.memory_analysis(), compiled.cost_analysis()
      if isinstance(flops, list):   # older jax: one dict per program
        flops = flops[0]
      times, _ = _step_times(compiled, state, batch, iters)
      seconds = float(np.median(times))
      renders = config.batch_size * (1 + config.data.target_views)
      line = dict(bench="cost", knob=knob, value=value,
                  step_ms=round(1e3 * seconds, 1),
                  temp_mib=round(memory.temp_size_in_bytes / MIB, 1),
                  gflop=round(flops.get("flops", float("nan")) / 1e9, 2),
                  rays_per_s=round(renders * config.neural_resolution**2 /
                                   seconds))
      print(json.dumps(line), flush=True)
      lines.append(line)
  return lines


def static_planes(module, image, motion_dim: int = 16):
  """Psi3d's planes of images [B, S, S, 3] from the synthesizer module
  (motion scale 0: the motion's values do not matter, only its width),
  differentiable with respect to the module."""
  import jax.numpy as jnp   # pylint: disable=import-outside-toplevel
  b = image.shape[0]
  zeros = jnp.zeros((b, motion_dim), image.dtype)
  return module.planes(image, zeros, zeros, jnp.zeros((b,), image.dtype))


def bench_parts(iters: int) -> dict:
  """Forward + backward milliseconds of the step's parts at tiny's setting."""
  # pylint: disable=import-outside-toplevel
  import jax
  import jax.numpy as jnp
  from flax import nnx
  from p4d_jax.rendering import render
  task, jitted, state, batch = _one_device_step(tiny())
  model = task.model.module(state["params"])
  b, t = batch["target_c2w"].shape[:2]
  image = batch["image"]
  c2w = batch["target_c2w"].reshape(b * t, 4, 4)
  intr = batch["target_intrinsics"].reshape(b * t, 3, 3)
  cfg = task.model.render_cfg
  dim = task.model.sizes.canonical.motion_dim
  res = task.config.neural_resolution
  planes = jnp.repeat(static_planes(model, image, dim), t, axis=0)
  width = model.decoder(jnp.zeros((1, planes.shape[-1])))[0].shape[-1]
  # The field MLP alone, on as many tri-plane features as the renderer
  # decodes (every ray's coarse and fine samples).
  points = b * t * res * res * (cfg.num_coarse + cfg.num_fine)
  samples = jax.random.normal(jax.random.key(4), (points, planes.shape[-1]))

  def encode(m):
    return jnp.sum(static_planes(m, image, dim))

  def rendered(p, m):
    out = render.render_image(p, m.decoder, c2w, intr, res, res, cfg,
                              key=jax.random.key(2))
    return jnp.sum(out["features"]) + jnp.sum(out["depth"])

  def decode(m):
    feats, sigma = m.decoder(samples)
    return jnp.sum(feats) + jnp.sum(sigma)

  feats = jax.random.uniform(jax.random.key(3), (b * t, res, res, width))

  def superres(m):
    return jnp.sum(m.superresolution(feats, 2.0 * feats[..., :3] - 1.0))

  parts = {
      "encoder_transformers": (nnx.jit(nnx.grad(encode)), (model,)),
      "renderer": (nnx.jit(nnx.grad(rendered, argnums=(0, 1))),
                   (planes, model)),
      "field_mlp": (nnx.jit(nnx.grad(decode)), (model,)),
      "super_resolution": (nnx.jit(nnx.grad(superres)), (model,)),
  }
  out = {name: 1e3 * median_seconds(fn, *args, iters=iters)
         for name, (fn, args) in parts.items()}
  out["sampling_compositing"] = out.pop("renderer") - out["field_mlp"]
  return dict(bench="cost_part", config="psi3d:tiny",
              **{k: round(v, 1) for k, v in out.items()})


def plot(lines: list[dict], path: str) -> None:
  """Step time (top row) and temporaries (bottom row) per sweep, as a PNG."""
  from p4d_jax.media import line_chart   # pylint: disable=import-outside-toplevel
  panels = [
      line_chart.Panel(f"{key} vs {knob}", [line_chart.Series(
          key, [r["value"] for r in lines if r["knob"] == knob],
          [r[key] for r in lines if r["knob"] == knob])], log_x=True)
      for key in ("step_ms", "temp_mib") for knob in SWEEPS]
  line_chart.write_png(panels, path, columns=len(SWEEPS))


def main(argv=None) -> list[dict]:
  parser = user_errors.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--what", default="step,loop",
                      help=f"comma-separated, of {','.join(WHAT)}")
  parser.add_argument("--iters", type=int, default=32)
  parser.add_argument("--loop_steps", type=int, default=150)
  parser.add_argument("--out", default="outputs/bench_train")
  args = parser.parse_args(argv)
  what = [w for w in args.what.split(",") if w]
  unknown = sorted(set(what) - set(WHAT))
  if unknown or not what:
    raise user_errors.UserError(
        f"--what={args.what!r}: {unknown or 'nothing'} is not one of "
        f"{','.join(WHAT)}; name one or more, comma-separated.")
  if args.loop_steps < 4:
    raise user_errors.UserError(
        f"--loop_steps={args.loop_steps}: the loop is timed between its "
        "second and last-but-one steps; give at least 4.")
  os.makedirs(args.out, exist_ok=True)
  lines, step_ms = [], None
  for part in what:
    if part == "step":
      new = [bench_step(args.iters)]
      step_ms = new[0]["step_ms"]
    elif part == "loop":
      new = [bench_loop(args.loop_steps, step_ms)]
    elif part == "sweeps":
      new = bench_sweeps(args.iters)   # printed as they come
      plot(new, os.path.join(args.out, "cost_curves.png"))
    else:
      new = [bench_parts(args.iters)]
    if part != "sweeps":
      print(json.dumps(new[0]), flush=True)
    lines += new
  from p4d_jax.media import atomic   # pylint: disable=import-outside-toplevel
  atomic.write_text(os.path.join(args.out, "bench_train.jsonl"),
                    "".join(json.dumps(x) + "\n" for x in lines))
  return lines


if __name__ == "__main__":
  user_errors.run(main)
