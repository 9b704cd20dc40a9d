"""Renderer speed and memory at the PyTorch reference setting.

Setting (see the project's research notes, peer_perf): tri-planes 3x32x256^2,
decoder hidden 64, 48 + 48 samples per ray, EG3D FFHQ cameras and range,
32^2 to 128^2 rays, batch 1 and 4. Forward = the jitted render; forward +
backward = gradient of mean(rgb^2) + mean(depth) + mean(weights_sum) w.r.t.
planes and decoder. Each setting runs in a fresh process (for its peak RSS)
and prints ONE JSON line:

  {"bench": "render", "rays": 64, "batch": 1, "fwd_ms": ..., "fwd_bwd_ms": ...,
   "ns_per_sample_fwd_bwd": ..., "temp_mib_fwd_bwd": ..., "peak_rss_mib": ...,
   "torch_ref_fwd_bwd_ms": ..., "speedup_fwd_bwd": ...}

Times are medians of --iters calls after a warm-up call; temp_mib is XLA's
buffer assignment for the compiled call's temporaries. --chunk_rays renders
in chunks of that many rays (--remat recomputes them in the backward pass);
--curve PREFIX writes PREFIX.csv and PREFIX.png (cost per sample against the
setting). It runs on the
project's allocator (`p4d_jax/allocator.py`: mimalloc unless P4D_ALLOCATOR
says otherwise); "allocator" in the output says which.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from p4d_jax import allocator
from p4d_jax import user_errors

# Medians measured with the reference EG3D renderer, torch 2.13 CPU, 2 threads,
# on this machine class (ms): (rays, batch) -> (forward, forward+backward).
TORCH_REFERENCE_MS = {
    (32, 1): (116, 309), (32, 4): (619, 1566), (64, 1): (528, 1297),
    (64, 4): (2524, 8101), (128, 1): (2866, 8651), (128, 4): (11866, 37540),
}
SETTINGS = ((32, 1), (64, 1), (64, 4), (128, 1), (128, 4))
CURVE_COLUMNS = ("rays", "batch", "chunk_rays", "remat", "fwd_ms",
                 "fwd_bwd_ms",
                 "ns_per_sample_fwd", "ns_per_sample_fwd_bwd",
                 "temp_mib_fwd_bwd", "peak_rss_mib", "allocator")


def reference_scene(batch: int, chunk_rays: int | None = None,
                    remat: bool = False):
  """The reference setting's (render config, decoder graphdef, decoder
  params, planes [B, 3, 256, 256, 32], cam2world [B, 4, 4], intrinsics
  [B, 3, 3]); tools/bench_hlo.py compiles the same."""
  # pylint: disable=import-outside-toplevel
  import jax
  import jax.numpy as jnp
  from flax import nnx
  from p4d_jax.models import field_mlp
  from p4d_jax.rendering import cameras
  from p4d_jax.rendering import render_config
  cfg = render_config.RenderConfig.preset("eg3d", chunk_rays=chunk_rays,
                                          remat=remat)
  decoder = field_mlp.FieldDecoder(32, 64, 32, zero_init_sigma=False,
                                   rngs=nnx.Rngs(0))
  graphdef, params = nnx.split(decoder)
  planes = jax.random.normal(jax.random.key(1), (batch, 3, 256, 256, 32))
  c2w = cameras.look_at_pose(jnp.full((batch,), jnp.pi / 2), jnp.pi / 2, 2.7,
                             (0.0, 0.0, 0.2), convention="eg3d")
  intr = cameras.fov_to_intrinsics(jnp.full((batch,), 18.837))
  return cfg, graphdef, params, planes, c2w, intr


def run_one(rays: int, batch: int, iters: int,
            chunk_rays: int | None = None, remat: bool = False) -> dict:
  """Times one setting in this process."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from flax import nnx  # pylint: disable=import-outside-toplevel
  # Imported here: the parent process only spawns children and needs no jax.
  # pylint: disable=import-outside-toplevel
  from p4d_jax.rendering import render

  cfg, graphdef, params, planes, c2w, intr = reference_scene(
      batch, chunk_rays, remat)

  def forward(planes, params, key):
    dec = nnx.merge(graphdef, params)
    return render.render_image(planes, dec, c2w, intr, rays, rays, cfg,
                               key=key)

  def loss(planes, params, key):
    out = forward(planes, params, key)
    return (jnp.mean(out["features"][..., :3] ** 2) + jnp.mean(out["depth"]) +
            jnp.mean(out["weights_sum"]))

  samples = rays * rays * batch * (cfg.num_coarse + cfg.num_fine)
  result = {"bench": "render", "rays": rays, "batch": batch,
            "chunk_rays": chunk_rays, "remat": remat,
            "samples_per_ray": cfg.num_coarse + cfg.num_fine}
  for name, fn in (("fwd", jax.jit(forward)),
                   ("fwd_bwd", jax.jit(jax.grad(loss, argnums=(0, 1))))):
    t0 = time.perf_counter()
    fn = fn.lower(planes, params, jax.random.key(0)).compile()
    result[f"temp_mib_{name}"] = round(
        fn.memory_analysis().temp_size_in_bytes / 2**20)
    jax.block_until_ready(fn(planes, params, jax.random.key(0)))
    first = time.perf_counter() - t0
    times = []
    for i in range(iters):
      t0 = time.perf_counter()
      jax.block_until_ready(fn(planes, params, jax.random.key(i + 1)))
      times.append(time.perf_counter() - t0)
    median = float(np.median(times)) * 1e3
    result[f"{name}_ms"] = round(median, 1)
    result[f"{name}_min_ms"] = round(min(times) * 1e3, 1)
    result[f"{name}_compile_s"] = round(first - median / 1e3, 2)
    result[f"ns_per_sample_{name}"] = round(median * 1e6 / samples, 1)
  result["peak_rss_mib"] = round(
      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
  ref = TORCH_REFERENCE_MS.get((rays, batch))
  if ref:
    result["torch_ref_fwd_ms"], result["torch_ref_fwd_bwd_ms"] = ref
    result["speedup_fwd"] = round(ref[0] / result["fwd_ms"], 2)
    result["speedup_fwd_bwd"] = round(ref[1] / result["fwd_bwd_ms"], 2)
  preload = os.environ.get("LD_PRELOAD", "")
  huge = allocator.HUGE_PAGES in os.environ.get("GLIBC_TUNABLES", "")
  result["allocator"] = ("mimalloc" if "mimalloc" in preload else
                         "jemalloc" if "jemalloc" in preload else
                         "system, huge pages" if huge else "system")
  result["iters"] = iters
  return result


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--settings", default=",".join(
      f"{r}x{b}" for r, b in SETTINGS),
                      help="comma list of RAYSxBATCH, e.g. 64x1,128x4")
  parser.add_argument("--iters", type=int, default=7)
  parser.add_argument("--chunk_rays", type=int, default=None)
  parser.add_argument("--remat", action="store_true",
                      help="recompute each chunk in the backward pass")
  parser.add_argument("--curve", help="write PREFIX.csv and PREFIX.png")
  parser.add_argument("--one", help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.one:
    rays, batch = map(int, args.one.split("x"))
    print(json.dumps(run_one(rays, batch, args.iters, args.chunk_rays,
                                args.remat)),
          flush=True)
    return
  results = []
  for setting in args.settings.split(","):
    # A fresh process per setting: peak RSS belongs to that setting alone.
    chunk = ([f"--chunk_rays={args.chunk_rays}"] if args.chunk_rays else []
             ) + (["--remat"] if args.remat else [])
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), f"--one={setting}",
         f"--iters={args.iters}", *chunk], capture_output=True, text=True,
        check=False)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode or not lines:
      print(json.dumps({"bench": "render", "setting": setting,
                        "error": proc.stderr.strip()[-500:]}), flush=True)
    else:
      print(lines[-1], flush=True)
      results.append(json.loads(lines[-1]))
  if args.curve and results:
    write_curve(results, args.curve)


def write_curve(results: list[dict], prefix: str) -> None:
  """PREFIX.csv (CURVE_COLUMNS) and PREFIX.png: ns per sample, forward and
  forward+backward, one point per setting in the order run."""
  # pylint: disable=import-outside-toplevel
  import numpy as np
  from PIL import Image, ImageDraw
  from p4d_jax.media import atomic
  atomic.write_text(prefix + ".csv", "".join(
      ",".join(str(r.get(c, "")) for c in CURVE_COLUMNS) + "\n"
      for r in [dict(zip(CURVE_COLUMNS, CURVE_COLUMNS))] + results))
  width, height, pad = 120 * len(results) + 80, 300, 40
  canvas = Image.new("RGB", (width, height), "white")
  draw = ImageDraw.Draw(canvas)
  top = max(r["ns_per_sample_fwd_bwd"] for r in results) * 1.15
  xs = pad + 20 + 120 * np.arange(len(results))
  for key, colour in (("ns_per_sample_fwd_bwd", "navy"),
                      ("ns_per_sample_fwd", "darkorange")):
    ys = [height - pad - r[key] / top * (height - 2 * pad) for r in results]
    draw.line(list(zip(xs, ys)), fill=colour, width=2)
    for x, y, r in zip(xs, ys, results):
      draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
      draw.text((x + 5, y - 12), f"{r[key]:g}", fill="black")
  for x, r in zip(xs, results):
    label = f"{r['rays']}x{r['rays']} b{r['batch']}"
    draw.text((x - 20, height - pad + 8), label, fill="black")
  draw.text((pad, 10), "ns per sample: fwd+bwd (navy), fwd (orange); "
            f"{results[0]['allocator']}", fill="black")
  with atomic.atomic_path(prefix + ".png") as tmp:
    canvas.save(tmp, format="PNG")


if __name__ == "__main__":
  user_errors.ensure_allocator()
  main()
