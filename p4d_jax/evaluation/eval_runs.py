"""What the evaluators share: rendering every row in padded batches across
processes, and writing each evaluation's numbers and grid."""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from p4d_jax.media import image_io


def render_all(render, params, fields: dict, batch: int) -> dict:
  """`render(params, batch)` over every row of `fields` (numpy arrays with
  a leading row axis), `batch` rows at a time, the last batch padded; the
  outputs as numpy, one row per input row. With several processes, every one
  gets all rows (the outputs may be sharded over all hosts' devices)."""
  n = len(next(iter(fields.values())))
  results = []
  for start in range(0, n, batch):
    idx = np.arange(start, start + batch) % n   # pad the last batch
    out = multihost_utils.process_allgather(render(
        params, {k: jnp.asarray(v[idx]) for k, v in fields.items()}),
        tiled=True)
    results.append({k: v[:min(batch, n - start)] for k, v in out.items()})
  return {k: np.concatenate([r[k] for r in results]) for k in results[0]}


def report(outdir: str, step: int, metrics: dict, grid, pairs: int) -> None:
  """Prints the metrics; process 0 (every host computes them) appends them
  to OUTDIR/metrics.jsonl and writes `grid()` as step_<step>.png."""
  if jax.process_index() == 0:
    os.makedirs(outdir, exist_ok=True)
    image_io.write_image(os.path.join(outdir, f"step_{step:07d}.png"), grid())
    with open(os.path.join(outdir, "metrics.jsonl"), "a") as f:
      f.write(json.dumps(dict(step=step, time=round(time.time(), 1),
                              pairs=pairs, **metrics)) + "\n")
  print(f"[eval] step {step}: " + "  ".join(
      f"{k} {v:.4f}" for k, v in metrics.items()), flush=True)
