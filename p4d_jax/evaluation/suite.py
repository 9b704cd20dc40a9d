"""Batch evaluation of a set of results: each metric runs when what it needs
is there (targets, sources, drivers, ground-truth parameters, a weights
file), and a note says why any other was skipped.

  per item  psnr, ssim, lpips                  result vs target
  per set   (see `set_metrics`)
Items carry a group ("same", "cross", or "all"); summaries are per group.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax.evaluation import image_metrics


@dataclasses.dataclass
class Items:
  """N results and what they are compared with (uint8 [N, S, S, 3] images;
  None where unknown)."""
  names: list[str]
  pred: np.ndarray
  target: np.ndarray | None = None
  source: np.ndarray | None = None
  driving: np.ndarray | None = None
  groups: list[str] | None = None
  extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Options:
  lpips_weights: str = ""    # tools/convert_lpips.py's .npz
  batch: int = 16


def _unit(x: np.ndarray) -> jax.Array:
  return jnp.asarray(x, jnp.float32) / 255.0


@jax.jit
def _pair_metrics(pred, target):
  p, t = _unit(pred), _unit(target)
  return dict(psnr=image_metrics.psnr(p, t), ssim=image_metrics.ssim(p, t))


@functools.lru_cache(maxsize=2)
def _lpips(path: str):
  from p4d_jax.models import lpips  # pylint: disable=import-outside-toplevel
  model = lpips.load_npz(path)
  return jax.jit(lambda a, b: model(_unit(a) * 2 - 1, _unit(b) * 2 - 1))


def _batched(fn, *arrays, batch: int) -> dict:
  """fn over rows of arrays, `batch` at a time -> concatenated numpy."""
  parts = [jax.device_get(fn(*(a[i:i + batch] for a in arrays)))
           for i in range(0, len(arrays[0]), batch)]
  if isinstance(parts[0], dict):
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  return np.concatenate(parts)


def per_item(items: Items, options: Options) -> tuple[dict, list[str]]:
  """Metric name -> values [N] (NaN where an item has none), and notes."""
  out, notes = dict(items.extra), []
  if items.target is None:
    notes.append("psnr, ssim, lpips skipped: no targets.")
  else:
    out.update(_batched(_pair_metrics, items.pred, items.target,
                        batch=options.batch))
    if options.lpips_weights:
      out["lpips"] = _batched(_lpips(options.lpips_weights), items.pred,
                              items.target, batch=options.batch).reshape(-1)
    else:
      notes.append("lpips skipped: no LPIPS weights (convert them with "
                   "tools/convert_lpips.py, pass --lpips_weights).")
  return out, notes


def set_metrics(items: Items, groups: dict[str, np.ndarray],
                options: Options) -> tuple[dict, list[str]]:
  """Metrics of whole sets, per group: {group: {name: value}}, notes."""
  del items, options
  return {g: {} for g in groups}, []


def group_rows(items: Items) -> dict[str, np.ndarray]:
  """Group name -> boolean mask [N]; "all" first."""
  labels = np.array(items.groups or ["all"] * len(items.names))
  rows = {"all": np.ones(len(labels), bool)}
  for g in dict.fromkeys(labels):
    if g != "all":
      rows[str(g)] = labels == g
  return rows


def summarise(items: Items, options: Options
              ) -> tuple[list[dict], list[dict], list[str], dict]:
  """(summary rows per group, per-item rows, notes, per-item arrays)."""
  values, notes = per_item(items, options)
  groups = group_rows(items)
  whole, set_notes = set_metrics(items, groups, options)
  summary = []
  for g, rows in groups.items():
    line = dict(group=g, items=int(rows.sum()))
    for name, v in values.items():
      v = np.asarray(v, float)[rows]
      line[name] = float(np.nanmean(v)) if np.isfinite(v).any() else float(
          "nan")
    line.update(whole.get(g, {}))
    summary.append(line)
  item_rows = [dict(item=n, group=(items.groups or ["all"] * len(items.names))
                    [i], **{k: float(v[i]) for k, v in values.items()})
               for i, n in enumerate(items.names)]
  return summary, item_rows, notes + set_notes, values
