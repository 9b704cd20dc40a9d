"""The field decoder: reference layout conversion, gains, initialisation."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.models import field_mlp


def _reference_eg3d(rng, c=8, hidden=16, out=5):
  return {"net.0.weight": rng.standard_normal((hidden, c)),
          "net.0.bias": rng.standard_normal(hidden),
          "net.2.weight": rng.standard_normal((1 + out, hidden)),
          "net.2.bias": rng.standard_normal(1 + out)}


@pytest.mark.parametrize("lr_mul", [1.0, 0.25])
def test_equalised_gains_and_both_reference_layouts(lr_mul):
  rng = np.random.default_rng(0)
  t = _reference_eg3d(rng)
  x = rng.standard_normal((7, 8)).astype(np.float32)
  # The reference computation, written out: y = x (W g)^T + b * lr_mul.
  g0, g1 = lr_mul / np.sqrt(8), lr_mul / np.sqrt(16)
  h = x @ (t["net.0.weight"] * g0).T + t["net.0.bias"] * lr_mul
  h = np.log1p(np.exp(h))
  y = h @ (t["net.2.weight"] * g1).T + t["net.2.bias"] * lr_mul
  expected_feats = 1 / (1 + np.exp(-y[:, 1:])) * 1.002 - 0.001

  dec = field_mlp.FieldDecoder(8, 16, 5, lr_mul=lr_mul, rngs=nnx.Rngs(0))
  field_mlp.load_reference_weights(dec, t)
  feats, sigma = dec(jnp.asarray(x))
  np.testing.assert_allclose(sigma, y[:, 0], rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(feats, expected_feats, rtol=1e-4, atol=1e-5)

  # Portrait4D's split heads hold the same numbers.
  p4d = {"net.0.weight": t["net.0.weight"], "net.0.bias": t["net.0.bias"],
         "out_sigma.weight": t["net.2.weight"][:1],
         "out_sigma.bias": t["net.2.bias"][:1],
         "out_rgb.weight": t["net.2.weight"][1:],
         "out_rgb.bias": t["net.2.bias"][1:]}
  dec2 = field_mlp.FieldDecoder(8, 16, 5, lr_mul=lr_mul, rngs=nnx.Rngs(1))
  field_mlp.load_reference_weights(dec2, p4d)
  feats2, sigma2 = dec2(jnp.asarray(x))
  np.testing.assert_array_equal(feats2, feats)
  np.testing.assert_array_equal(sigma2, sigma)


def test_zero_initialised_density_head():
  dec = field_mlp.FieldDecoder(8, 16, 5, rngs=nnx.Rngs(0))
  _, sigma = dec(jnp.ones((3, 8)))
  np.testing.assert_array_equal(sigma, 0.0)


def test_bad_weights_name_the_culprit():
  rng = np.random.default_rng(0)
  dec = field_mlp.FieldDecoder(8, 16, 5, rngs=nnx.Rngs(0))
  t = _reference_eg3d(rng)
  del t["net.0.bias"]
  with pytest.raises(KeyError, match="net.0.bias"):
    field_mlp.load_reference_weights(dec, t)
  with pytest.raises(ValueError, match="does not fit"):
    field_mlp.load_reference_weights(dec, _reference_eg3d(rng, c=9))
