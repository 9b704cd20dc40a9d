"""The expression table's PSNR measures are paired differences with their
bootstrap intervals, binned by how far the jaw moves (the jaw error, which
renders, is tested with the jaw fit in test_jaw_follow.py)."""

import numpy as np

from p4d_jax.data.synthheads import params as P
from p4d_jax.evaluation import expression_transfer as X


def test_gains_are_paired_and_binned_by_the_jaw():
  n = 12
  source = np.zeros((n, 6), np.float32)
  driving = np.zeros((n, 6), np.float32)
  driving[:6, 0] = 0.5           # the jaw moves in pairs 0-5 only
  fields = dict(source_expression=P.standardise_expression(source),
                driving_expression=P.standardise_expression(driving))
  rng = np.random.default_rng(0)
  static = {r: 20.0 + rng.standard_normal(n) for r in ("eyes", "mouth")}
  out = {}
  for r in ("eyes", "mouth"):
    out[f"static_{r}_psnr"] = static[r]
    out[f"shuffled_{r}_psnr"] = static[r].copy()
  out["eyes_psnr"] = static["eyes"] + 0.1
  out["mouth_psnr"] = static["mouth"] + np.where(np.arange(n) < 6, 2.0, 0.0)
  rows = np.ones(n, bool)
  got = X.psnr_gains(out, fields, rows)
  assert abs(got["eyes_gain"]["mean"] - 0.1) < 1e-9
  assert abs(got["eyes_gain"]["high"] - got["eyes_gain"]["low"]) < 1e-9
  assert got["mouth_gain"]["mean"] == 1.0
  assert got["mouth_gain_jaw_moves"] == dict(mean=2.0, low=2.0, high=2.0,
                                             pairs=6)
  assert got["mouth_gain_jaw_stays"]["mean"] == 0.0
  assert got["mouth_shuffled_gain"]["mean"] == 0.0
  # A subset of rows: only those pairs count; an empty bin is None.
  got = X.psnr_gains(out, fields, np.arange(n) >= 6)
  assert got["mouth_gain_jaw_moves"] is None
  assert got["mouth_gain"]["pairs"] == 6
