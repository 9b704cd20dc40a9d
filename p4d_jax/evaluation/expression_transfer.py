"""How much of the driver's expression a Psi carries over, per held-out pair
(issue 18's table), from `ReenactmentEvaluator.per_pair`'s output.

Every measure is paired within a pair, so that identity, camera and the
renderer's samples cancel:

  gain          eye / mouth PSNR of the driven result minus the source-driven
                (static) control's: the expression carried over
  shuffled      the same for a driver taken from another pair: must be ~0,
                or the gain is not expression transfer
  jaw bins      the mouth gain of pairs whose jaw moves (|Δjaw| >= 0.2)
                and of pairs whose jaw stays (< 0.05): transfer shows where
                the jaw moves
  jaw error     |jaw_open read back from the result (evaluation/jaw_follow's
                fit) - the target's|, driven and static, on pairs with
                |Δjaw| >= 0.15, and their ratio (< 1: the driver helps)

Means come with percentile-bootstrap 95 % intervals over pairs
(`paired_stats.bootstrap_mean`). Δjaw is in jaw_open's own units (0..1).
"""

from __future__ import annotations

import numpy as np

from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import regions
from p4d_jax.evaluation import jaw_follow
from p4d_jax.evaluation import paired_stats
from p4d_jax.rendering import cameras

MOVES, STAYS, JAW_ERROR_FROM = 0.2, 0.05, 0.15


def delta_jaw(fields: dict) -> np.ndarray:
  """|driver's jaw_open - source's| [P] in jaw_open units (the fields
  carry standardised expressions, whose unit is range / sqrt(12))."""
  jaw = P.EXPRESSION[jaw_follow.JAW]
  unit = (jaw.high - jaw.low) / np.sqrt(12.0)
  return np.abs(fields["driving_expression"][:, jaw_follow.JAW] -
                fields["source_expression"][:, jaw_follow.JAW]) * unit


def _interval(values) -> dict | None:
  return paired_stats.bootstrap_mean(values) if len(values) else None


def psnr_gains(out: dict, fields: dict, rows: np.ndarray) -> dict:
  """Region gains over the static control (driven, shuffled) and the mouth
  gain in the two jaw bins, for the pairs `rows` [P] (bool)."""
  table = {}
  for region in regions.REGIONS:
    static = out[f"static_{region}_psnr"]
    table[f"{region}_gain"] = _interval((out[f"{region}_psnr"] -
                                         static)[rows])
    table[f"{region}_shuffled_gain"] = _interval(
        (out[f"shuffled_{region}_psnr"] - static)[rows])
  mouth = out["mouth_psnr"] - out["static_mouth_psnr"]
  moved = delta_jaw(fields)
  table["mouth_gain_jaw_moves"] = _interval(mouth[rows & (moved >= MOVES)])
  table["mouth_gain_jaw_stays"] = _interval(mouth[rows & (moved < STAYS)])
  return table


def jaw_errors(out: dict, fields: dict, rows: np.ndarray) -> dict:
  """The jaw opening of the driven and static results read back at the
  target camera, against the target's, on pairs with |Δjaw| >=
  JAW_ERROR_FROM among `rows`."""
  pick = np.flatnonzero(rows & (delta_jaw(fields) >= JAW_ERROR_FROM))
  if not len(pick):
    return dict(jaw_error_pairs=0)
  labels = np.asarray(cameras.pack_label(fields["target_c2w"][pick, 0],
                                         fields["target_intrinsics"][pick, 0]))
  truth = fields["target_expression"][pick]
  read = []
  for n, i in enumerate(pick):   # one set of exact renders reads both
    scene = {k: fields[f"source_{k}"][i]
             for k in ("identity", "lighting", "background")}
    references = jaw_follow.jaw_references(
        scene, labels[n:n + 1], truth[n:n + 1], out["image"].shape[1])
    both = np.stack([out["image"][i], out["static_image"][i]])
    read.append(jaw_follow.read_jaw((both + 1.0) / 2.0, references))
  # [pairs, 2]: the driven and the static result's jaw error.
  errors = np.abs(np.array(read) - truth[:, jaw_follow.JAW, None])
  driven, static = errors[:, 0], errors[:, 1]
  return dict(jaw_error_pairs=int(len(pick)),
              jaw_error_driven=float(driven.mean()),
              jaw_error_static=float(static.mean()),
              jaw_error_ratio=float(driven.mean() / max(static.mean(), 1e-9)))
