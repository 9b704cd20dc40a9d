"""Cost curves of the Psi3d training step, and where its time goes.

    bash launch/run.sh python tools/bench_cost.py [--iters 5] [--out outputs/bench_cost]

configs/psi3d.py:tiny on synthetic batches, one CPU device. Three sweeps,
each moving one knob from tiny's setting (neural resolution 32, 24 + 24
samples per ray, batch 4, two renders per example):

  {"bench": "cost", "knob": "neural_resolution" | "samples" | "batch",
   "value": ..., "step_ms": median, "temp_mib": XLA's temporaries,
   "gflop": XLA's count, "rays_per_s": ...}

then the parts of the step at tiny's setting, each forward + backward on its
own (`"bench": "cost_part"`): the encoder and transformers (image ->
tri-planes), the field MLP (the decoder alone on as many tri-plane features
as the renderer decodes), ray sampling with the tri-plane lookups and
compositing (the whole renderer less the MLP), and the super-resolution. One JSON line
per figure on stdout; OUT/cost_curves.png plots the sweeps and
OUT/cost.jsonl keeps the lines. Times are medians of --iters runs after a
compiling one; this machine is noisy, so compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

import jax
import jax.numpy as jnp
from flax import nnx
from PIL import Image, ImageDraw

from configs import psi3d as psi3d_config
from p4d_jax import user_errors
from p4d_jax.data import multiview_batches
from p4d_jax.media import atomic
from p4d_jax.rendering import render
from p4d_jax.tasks import psi3d

SWEEPS = {"neural_resolution": (16, 32, 64), "samples": (12, 24, 48),
          "batch": (1, 2, 4, 8)}
MIB = 2**20


def timed(fn, *args, iters: int) -> float:
  """Median seconds of fn(*args) over `iters` calls after a compiling one."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def tiny(knob: str | None = None, value: int | None = None):
  config = psi3d_config.get_config("tiny")
  if knob == "neural_resolution":
    config.neural_resolution = value
    config.image_size = 2 * value          # the super-resolution's factor
  elif knob == "samples":
    config.render.num_coarse = config.render.num_fine = value
  elif knob == "batch":
    config.batch_size = value
  return config


def step_cost(config, iters: int) -> dict:
  task = psi3d.Psi3dTask(config)
  state = jax.jit(task.init_state)(jax.random.key(0))
  batch = multiview_batches.synthetic_batch(
      config.batch_size, config.image_size, 1 + config.data.target_views)
  step = jax.jit(task.train_step)
  compiled = step.lower(state, batch, jax.random.key(1)).compile()
  memory, flops = compiled.memory_analysis(), compiled.cost_analysis()
  if isinstance(flops, list):   # older jax: one dict per program
    flops = flops[0]
  seconds = timed(compiled, state, batch, jax.random.key(1), iters=iters)
  renders = config.batch_size * (1 + config.data.target_views)
  return dict(step_ms=round(1e3 * seconds, 1),
              temp_mib=round(memory.temp_size_in_bytes / MIB, 1),
              gflop=round(flops.get("flops", float("nan")) / 1e9, 2),
              rays_per_s=round(renders * config.neural_resolution**2 /
                               seconds))


def static_planes(module, image, motion_dim: int = 16):
  """Psi3d's planes of images [B, S, S, 3] from the synthesizer module
  (motion scale 0: the motion's values do not matter, only its width),
  differentiable with respect to the module."""
  b = image.shape[0]
  zeros = jnp.zeros((b, motion_dim), image.dtype)
  return module.planes(image, zeros, zeros, jnp.zeros((b,), image.dtype))


def part_costs(iters: int) -> dict:
  """Forward + backward milliseconds of the step's parts at tiny's setting."""
  config = tiny()
  task = psi3d.Psi3dTask(config)
  model = task.model.module(
      jax.jit(task.init_state)(jax.random.key(0))["params"])
  batch = multiview_batches.synthetic_batch(
      config.batch_size, config.image_size, 1 + config.data.target_views)
  b, t = batch["target_c2w"].shape[:2]
  image = jnp.asarray(batch["image"])
  c2w = jnp.asarray(batch["target_c2w"]).reshape(b * t, 4, 4)
  intr = jnp.asarray(batch["target_intrinsics"]).reshape(b * t, 3, 3)
  cfg = task.model.render_cfg
  dim = task.model.sizes.canonical.motion_dim
  res = config.neural_resolution
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
  out = {name: 1e3 * timed(fn, *args, iters=iters)
         for name, (fn, args) in parts.items()}
  out["sampling_compositing"] = out.pop("renderer") - out["field_mlp"]
  return {k: round(v, 1) for k, v in out.items()}


def plot(lines: list[dict], path: str) -> None:
  """Step time (top) and temporaries (bottom) per sweep, as a PNG."""
  panel, pad = 260, 40
  knobs = list(SWEEPS)
  canvas = Image.new("RGB", (len(knobs) * panel, 2 * panel), "white")
  draw = ImageDraw.Draw(canvas)
  for col, knob in enumerate(knobs):
    rows = [r for r in lines if r["knob"] == knob]
    xs = np.log2([r["value"] for r in rows])
    for row, (key, unit) in enumerate((("step_ms", "ms"), ("temp_mib",
                                                           "MiB"))):
      ys = np.array([r[key] for r in rows], float)
      x0, y0 = col * panel + pad, row * panel + pad
      size = panel - 2 * pad
      draw.rectangle([x0, y0, x0 + size, y0 + size], outline="gray")
      sx = (xs - xs.min()) / max(np.ptp(xs), 1e-9) * size + x0
      sy = y0 + size - ys / max(ys.max(), 1e-9) * size
      draw.line(list(zip(sx, sy)), fill="navy", width=2)
      for x, y, v, r in zip(sx, sy, ys, rows):
        draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill="navy")
        draw.text((x + 4, y - 12), f"{v:g}", fill="black")
        draw.text((x - 6, y0 + size + 4), str(r["value"]), fill="black")
      draw.text((x0, y0 - 16), f"{key} ({unit}) vs {knob}", fill="black")
  with atomic.atomic_path(path) as tmp:
    canvas.save(tmp, format="PNG")


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--iters", type=int, default=5)
  parser.add_argument("--out", default="outputs/bench_cost")
  args = parser.parse_args(argv)
  os.makedirs(args.out, exist_ok=True)
  lines = []
  for knob, values in SWEEPS.items():
    for value in values:
      line = dict(bench="cost", knob=knob, value=value,
                  **step_cost(tiny(knob, value), args.iters))
      print(json.dumps(line), flush=True)
      lines.append(line)
  plot(lines, os.path.join(args.out, "cost_curves.png"))
  part = dict(bench="cost_part", config="psi3d:tiny", **part_costs(args.iters))
  print(json.dumps(part), flush=True)
  atomic.write_text(os.path.join(args.out, "cost.jsonl"),
                    "".join(json.dumps(x) + "\n" for x in lines + [part]))
  return lines + [part]


if __name__ == "__main__":
  user_errors.ensure_allocator()
  main()
