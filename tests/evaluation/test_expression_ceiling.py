"""The expression ceiling and the paired bootstrap."""

import numpy as np
import pytest

from p4d_jax.evaluation import expression_ceiling
from p4d_jax.evaluation import paired_stats


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_pairs():
  rng = np.random.default_rng(0)
  few = paired_stats.bootstrap_mean(rng.normal(1.0, 1.0, 16))
  many = paired_stats.bootstrap_mean(rng.normal(1.0, 1.0, 1024))
  for r in (few, many):
    assert r["low"] < r["mean"] < r["high"]
  assert many["high"] - many["low"] < 0.5 * (few["high"] - few["low"])
  # The standard error of 1024 unit-variance pairs is 1/32: the 95 %
  # interval is about +-1.96/32 wide around the sample mean.
  assert abs((many["high"] - many["low"]) / 2 - 1.96 / 32) < 0.01
  assert paired_stats.bootstrap_mean([2.0, 2.0, 2.0]) == dict(
      mean=2.0, low=2.0, high=2.0, pairs=3)
  assert paired_stats.bootstrap_mean(np.arange(9.0)) == \
      paired_stats.bootstrap_mean(np.arange(9.0))
  with pytest.raises(ValueError):
    paired_stats.bootstrap_mean([])


def test_neural_resolution_blur_keeps_flat_images_and_block_means():
  flat = np.full((2, 8, 8, 3), 0.3, np.float32)
  np.testing.assert_allclose(expression_ceiling.at_neural_resolution(flat, 4),
                             flat, atol=1e-7)
  checker = (np.indices((8, 8)).sum(0) % 2).astype(np.float32)
  blurred = expression_ceiling.at_neural_resolution(
      np.broadcast_to(checker[None, ..., None], (1, 8, 8, 1)), 2)
  np.testing.assert_allclose(blurred, 0.5, atol=1e-6)


def _renders(target, static, masks):
  return dict(target=target, static=static, regions=masks)


def test_ceiling_is_zero_when_expressions_agree_and_positive_when_not():
  rng = np.random.default_rng(1)
  target = rng.uniform(0, 1, (3, 16, 16, 3)).astype(np.float32)
  masks = np.zeros((3, 2, 16, 16), np.float32)
  masks[:, 0, 2:6, 2:12] = 1.0    # "eyes"
  masks[:, 1, 10:14, 4:12] = 1.0  # "mouth"
  same = expression_ceiling.ceiling(_renders(target, target, masks), 2)
  for row in same.values():
    assert row["gain"]["mean"] == 0.0
  static = target.copy()
  static[:, 10:14, 4:12] = 1.0 - static[:, 10:14, 4:12]   # only the mouth
  out = expression_ceiling.ceiling(_renders(target, static, masks), 2)
  assert out["eyes"]["gain"]["mean"] == pytest.approx(0.0, abs=1e-9)
  assert out["mouth"]["gain"]["low"] > 0.0
  assert out["mouth"]["perfect_psnr"] > out["mouth"]["static_psnr"]
  # Blurring hides detail, so the blurred static error is below the exact one.
  assert out["mouth"]["exact_static_psnr"] < out["mouth"]["static_psnr"]
  with pytest.raises(ValueError):
    expression_ceiling.ceiling(_renders(target, static, masks), 1)


def test_render_pairs_are_the_same_head_in_two_expressions():
  r = expression_ceiling.render_pairs(2, 32, seed=3, supersample=1)
  assert r["target"].shape == r["static"].shape == (2, 32, 32, 3)
  assert r["regions"].shape == (2, 2, 32, 32)
  assert r["regions"][:, 1].sum() > 0      # the mouth is in view
  # Same backdrop and camera: the corners (backdrop) agree, the face not.
  np.testing.assert_allclose(r["target"][:, 0, 0], r["static"][:, 0, 0],
                             atol=1e-6)
  assert np.abs(r["target"] - r["static"]).max() > 0.05
  again = expression_ceiling.render_pairs(2, 32, seed=3, supersample=1)
  np.testing.assert_array_equal(again["target"], r["target"])
