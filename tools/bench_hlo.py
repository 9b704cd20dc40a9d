"""What XLA makes of the renderer's hot kernels: ops, fusions, FLOPs and bytes.

    bash launch/run.sh python tools/bench_hlo.py [--rays 64] [--batch 1]

At the renderer's reference setting (tools/bench_render.py: tri-planes
3x32x256^2, decoder hidden 64, 48 + 48 samples per ray, 64^2 rays, batch 1)
each kernel is compiled ahead of time, forward and forward + backward, and
read from its compiled HLO: one JSON line per (kernel, pass),

  {"bench": "hlo", "kernel", "pass", "samples", "stablehlo_ops", "hlo_ops",
   "fusions", "flop_per_sample", "bytes_per_sample", "flop_per_byte",
   "temp_mib", "bound_h100_fp32", "bound_tpu_v5e"}

Kernels: `lookup` (bilinear tri-plane gathers, 12 taps a point), `field_mlp`
(the decoder alone), `lookup_mlp` (both: what a fused kernel would do per
point), `composite` (mid-point weights, colour coefficients, features and
depth of 96 samples a ray), `importance` (the fine depths; forward only, no
gradient flows through it) and `render` (the whole two-pass render).
`samples` is the points the kernel handles (one pass of 48 per ray for the
field kernels; 96 per ray for composite and render).

Where it comes from. `stablehlo_ops` counts the ops JAX lowers for a TPU
target (`lowering_platforms=("tpu",)`, no device needed; the program is the
same for GPU but for a few platform-dependent rules). Compiling needs the
target's compiler, which only comes with its device or plugin, so the
fused figures are XLA:CPU's: `hlo_ops` (instructions of the optimised
module, fusions counted once), `fusions`, and XLA's cost model per sample
(`flop_per_sample`: FLOPs and transcendentals; `bytes_per_sample`: each
fusion's operands and results once, which is the traffic to main memory
if every fusion stays on chip).
The cost model is blind to one thing that matters here: it counts a gather
by what it returns and a scatter by its whole operand, so the lookup's bytes
are not its traffic (12 taps x 32 channels x 4 bytes = 1.5 kB a point read
from the planes, wherever they are cached; README "Accelerators").
`bound_*` compares FLOP/byte with the ridge point of a target
(peak FLOP/s over memory bandwidth, datasheet figures in RIDGES): below it
the kernel waits on memory.
"""

from __future__ import annotations

import json
import re

from p4d_jax import user_errors
from tools import bench_render

# Datasheet peak FLOP/s over memory bandwidth (FLOP per byte): H100 SXM,
# FP32 without tensor cores, 67 TFLOP/s over 3.35 TB/s; TPU v5e, bf16
# matrix units, 197 TFLOP/s over 819 GB/s.
RIDGES = {"h100_fp32": 67e12 / 3.35e12, "tpu_v5e": 197e12 / 819e9}


def _count_ops(hlo_text: str) -> tuple[int, int]:
  """(instructions in the entry and non-fused computations, fusions)."""
  ops = fusions = 0
  inside_fused = False
  for line in hlo_text.splitlines():
    stripped = line.strip()
    if stripped.endswith("{") and not stripped.startswith("ROOT"):
      inside_fused = "fused_computation" in stripped or stripped.startswith(
          "%fused")
      continue
    if stripped == "}":
      inside_fused = False
      continue
    if "=" in stripped and not inside_fused and not stripped.startswith(
        ("HloModule", "//")):
      ops += 1
      fusions += bool(re.search(r"\bfusion\(", stripped))
  return ops, fusions


def analyse(name: str, pass_: str, fn, args, samples: int) -> dict:
  import jax   # pylint: disable=import-outside-toplevel
  jitted = jax.jit(fn)
  lowered_tpu = jitted.trace(*args).lower(lowering_platforms=("tpu",))
  stablehlo = sum(1 for line in lowered_tpu.as_text().splitlines()
                  if re.search(r"= stablehlo\.|^\s*stablehlo\.", line))
  compiled = jitted.lower(*args).compile()
  cost = compiled.cost_analysis()
  if isinstance(cost, list):   # older jax: one dict per program
    cost = cost[0]
  ops, fusions = _count_ops(compiled.as_text())
  flop = cost.get("flops", 0.0) + cost.get("transcendentals", 0.0)
  moved = cost.get("bytes accessed", 0.0)
  intensity = flop / max(moved, 1.0)
  line = dict(bench="hlo", kernel=name, **{"pass": pass_}, samples=samples,
              stablehlo_ops=stablehlo, hlo_ops=ops, fusions=fusions,
              flop_per_sample=round(flop / samples, 1),
              bytes_per_sample=round(moved / samples, 1),
              flop_per_byte=round(intensity, 2),
              temp_mib=round(compiled.memory_analysis().temp_size_in_bytes
                             / 2**20, 1))
  for target, ridge in RIDGES.items():
    line[f"bound_{target}"] = "memory" if intensity < ridge else "compute"
  return line


def kernels(rays: int, batch: int):
  """(name, pass, fn, args, samples) of every kernel at the setting."""
  # pylint: disable=import-outside-toplevel
  import jax
  import jax.numpy as jnp
  from flax import nnx
  from p4d_jax.rendering import render
  from p4d_jax.rendering import sampling
  from p4d_jax.rendering import triplane
  from p4d_jax.rendering import volume

  cfg, graphdef, params, planes, c2w, intr = bench_render.reference_scene(
      batch)
  keys = iter(jax.random.split(jax.random.key(0), 16))
  _, _, height, width, channels = planes.shape
  n = batch * rays * rays
  per_ray = cfg.num_coarse + cfg.num_fine
  points = n * cfg.num_coarse   # one field pass
  world = jax.random.uniform(next(keys), (n, cfg.num_coarse, 3),
                             minval=-0.5, maxval=0.5)
  scene = jnp.repeat(jnp.arange(batch, dtype=jnp.int32), rays * rays)
  grids = jax.random.uniform(next(keys), (points, 3, 2), minval=-1, maxval=1)
  start = jnp.zeros((points,), jnp.int32)
  table = triplane.flatten_planes(planes)
  feats = jax.random.normal(next(keys), (points, channels))

  def lookup(t):
    return triplane.lookup_triplane(t, start, grids, height, width,
                                    cfg.aggregation)

  def mlp(p, f):
    return nnx.merge(graphdef, p)(f)

  def lookup_mlp(pl, p):
    field = render.triplane_field(pl, nnx.merge(graphdef, p), cfg)
    return field(world, scene)

  depths = jnp.sort(jax.random.uniform(next(keys), (n, per_ray),
                                       minval=2.25, maxval=3.3), axis=-1)
  sigma = jax.random.normal(next(keys), (n, per_ray))
  colours = jax.random.normal(next(keys), (n, per_ray, channels))

  def composite(s, c):
    weights = volume.midpoint_weights(s, depths)
    feats_out = jnp.einsum("ns,nsc->nc", volume.sample_coefficients(weights),
                           c)
    return feats_out, volume.expected_depth(weights, depths, 2.25, 3.3)

  coarse = depths[:, ::2]
  coarse_w = jax.random.uniform(next(keys), (n, cfg.num_coarse - 1))
  fine_u = jax.random.uniform(next(keys), (n, cfg.num_fine))
  def whole(pl, p):
    out = render.render_image(pl, nnx.merge(graphdef, p), c2w, intr, rays,
                              rays, cfg, key=jax.random.key(1))
    return out["features"], out["depth"]

  def fwd_bwd(fn):
    """Forward + backward: the gradient of the outputs' summed squares with
    respect to every argument (the kernel's cost in training)."""
    def loss(*args):
      return sum(jnp.sum(jnp.square(o)) for o in jax.tree.leaves(fn(*args)))
    return jax.grad(loss, argnums=tuple(range(fn.__code__.co_argcount)))

  table_args = (table,)
  yield "lookup", "fwd", lookup, table_args, points
  yield "lookup", "fwd_bwd", fwd_bwd(lookup), table_args, points
  yield "field_mlp", "fwd", mlp, (params, feats), points
  yield "field_mlp", "fwd_bwd", fwd_bwd(mlp), (params, feats), points
  yield "lookup_mlp", "fwd", lookup_mlp, (planes, params), points
  yield "lookup_mlp", "fwd_bwd", fwd_bwd(lookup_mlp), (planes, params), points
  yield "composite", "fwd", composite, (sigma, colours), n * per_ray
  yield ("composite", "fwd_bwd", fwd_bwd(composite), (sigma, colours),
         n * per_ray)
  yield ("importance", "fwd",
         lambda w: sampling.importance_depths(coarse, w, fine_u), (coarse_w,),
         n * cfg.num_fine)
  yield "render", "fwd", whole, (planes, params), n * per_ray
  yield "render", "fwd_bwd", fwd_bwd(whole), (planes, params), n * per_ray


def main(argv=None) -> list[dict]:
  parser = user_errors.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rays", type=int, default=64)
  parser.add_argument("--batch", type=int, default=1)
  args = parser.parse_args(argv)
  if args.rays < 8 or args.batch < 1:
    raise user_errors.UserError(
        f"--rays={args.rays} --batch={args.batch}: give at least 8 rays a "
        "side and a batch of 1 or more.")
  lines = []
  for name, pass_, fn, fn_args, samples in kernels(args.rays, args.batch):
    line = analyse(name, pass_, fn, fn_args, samples)
    print(json.dumps(line), flush=True)
    lines.append(line)
  return lines


if __name__ == "__main__":
  user_errors.run(main)
