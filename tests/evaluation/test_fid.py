"""The Fréchet distance against closed forms, and batched features."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.evaluation import fid


def _feats(seed, n=500, d=8):
  """Correlated, non-centred features [n, d]."""
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(
      size=d)


def test_distance_to_itself_is_zero():
  a = _feats(0)
  assert abs(fid.frechet_distance(a, a)) < 1e-6


def test_a_shift_adds_its_squared_norm():
  """Equal covariances: only ||c||^2 is left."""
  a, c = _feats(1), np.array([0.5, -1, 2, 0, 0, 0.25, 3, -0.5])
  np.testing.assert_allclose(fid.frechet_distance(a, a + c), c @ c,
                             rtol=1e-8)


def test_doubling_closed_form():
  """B = 2A: ||mu||^2 + tr(S + 4S - 2 (4 S^2)^(1/2)) = ||mu||^2 + tr(S)."""
  a = _feats(2)
  mu, cov = a.mean(0), np.cov(a, rowvar=False)
  np.testing.assert_allclose(fid.frechet_distance(a, 2 * a),
                             mu @ mu + np.trace(cov), rtol=1e-8)


def test_symmetric_and_positive():
  a, b = _feats(3), _feats(4, n=300)
  d = fid.frechet_distance(a, b)
  assert d > 1
  np.testing.assert_allclose(fid.frechet_distance(b, a), d, rtol=1e-8)


def test_rank_deficient_covariances_stay_finite():
  """N < D (the usual small-sample case): singular covariances."""
  rng = np.random.default_rng(5)
  a, b = rng.normal(size=(10, 64)), rng.normal(size=(12, 64)) + 1
  d = fid.frechet_distance(a, b)
  assert np.isfinite(d) and d > 0
  assert abs(fid.frechet_distance(a, a)) < 1e-3  # eps offset, not exact 0


def test_bad_shapes_raise():
  with pytest.raises(ValueError, match="at least 2"):
    fid.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))
  with pytest.raises(ValueError, match=r"\[N, D\]"):
    fid.frechet_distance(np.zeros((4, 3)), np.zeros((4, 2)))


class _MeanColour(nnx.Module):
  """[B, H, W, 3] in [0, 1] -> [B, 3] mean colour (a stand-in model)."""

  def __call__(self, x):
    return jnp.mean(x, axis=(1, 2))


def test_features_batches_and_scales_to_unit_range():
  """5 images in batches of 2 (the last one padded) give each image's own
  features, in [0, 1] units."""
  images = np.random.default_rng(6).integers(0, 256, (5, 6, 7, 3), np.uint8)
  got = fid.features(_MeanColour(), images, batch=2)
  assert got.shape == (5, 3) and got.dtype == np.float32
  np.testing.assert_allclose(got, images.mean((1, 2)) / 255, rtol=1e-5)
  with pytest.raises(ValueError, match="uint8"):
    fid.features(_MeanColour(), images.astype(np.float32), batch=2)
