"""Batch evaluation of a set of results: each metric runs when what it needs
is there (targets, sources, drivers, ground-truth parameters, a weights
file), and a note says why any other was skipped.

  per item  psnr, ssim, lpips                  result vs target
            identity_similarity              result vs source (dlib)
            akd                              result vs driving (dlib)
  per set   fid                              results vs targets, per group
Callers add their own per-item metrics in `Items.extra` (SynthHeads: novel
views, depth, geometry consistency, region PSNRs, AED/APD).
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
  lpips_weights: str = ""       # tools/convert_lpips.py's run directory
  inception_weights: str = ""   # tools/convert_inception.py's run (FID)
  face_metrics: bool = True     # dlib identity similarity and AKD
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
  model = lpips.load(path)
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
  if options.face_metrics:
    faces, face_notes = _face_metrics(items)
    out.update(faces)
    notes += face_notes
  return out, notes


def _face_metrics(items: Items) -> tuple[dict, list[str]]:
  from p4d_jax.evaluation import face_metrics  # pylint: disable=import-outside-toplevel
  try:
    analyser = face_metrics.FaceAnalyser()
  except ImportError as err:
    return {}, [f"identity_similarity, akd skipped: {err}"]
  return face_metrics.per_item(items.pred, items.source, items.driving,
                               analyser)


@functools.lru_cache(maxsize=1)
def _inception(path: str):
  from p4d_jax.models import inception  # pylint: disable=import-outside-toplevel
  return inception.load(path)


def set_metrics(items: Items, groups: dict[str, np.ndarray],
                options: Options) -> tuple[dict, list[str]]:
  """Metrics of whole sets, per group: {group: {name: value}}, notes."""
  out = {g: {} for g in groups}
  if items.target is None or not options.inception_weights:
    why = "no targets" if items.target is None else (
        "no Inception weights (convert pytorch-fid's with "
        "tools/convert_inception.py, pass --inception_weights)")
    return out, [f"fid skipped: {why}."]
  from p4d_jax.evaluation import fid  # pylint: disable=import-outside-toplevel
  model = _inception(options.inception_weights)
  pred = fid.features(model, items.pred, options.batch)
  target = fid.features(model, items.target, options.batch)
  for g, rows in groups.items():
    out[g]["fid"] = fid.frechet_distance(pred[rows], target[rows])
  notes = []
  if len(items.pred) < 2048:
    notes.append(f"fid on {len(items.pred)} images: below the 2048 "
                 "dimensions of the features the covariances are singular; "
                 "compare FIDs only at equal, large counts.")
  return out, notes


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
