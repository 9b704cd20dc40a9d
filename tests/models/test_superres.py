"""Super-resolution: released size, FIR upsampling, (de)modulation algebra."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from p4d_jax.models import canonical
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import superres
from tests.models import released

@released.needs_keys
def test_paper_size_is_the_released_one_less_the_unused_noise_scalars():
  model = nnx.eval_shape(lambda: superres.SuperResolution(
      sizes_lib.SuperResSizes(), nnx.Rngs(0)))
  assert released.count("superresolution") == 1_649_578
  assert canonical.parameter_count(model) == (
      released.count("superresolution") -
      released.noise_scalars("superresolution"))


def test_fir_upsampling_keeps_constants_and_interpolates():
  const = jnp.full((1, 5, 6, 2), 3.0)
  up = superres.upsample2d(const)
  assert up.shape == (1, 10, 12, 2)
  np.testing.assert_allclose(up[0, 2:-2, 2:-2], 3.0, rtol=1e-6)
  # A ramp stays a ramp of half the slope inside the image.
  ramp = jnp.arange(8.0)[None, None, :, None] * jnp.ones((1, 8, 8, 1))
  fine = superres.upsample2d(ramp)[0, 4, 3:13, 0]
  np.testing.assert_allclose(jnp.diff(fine), 0.5, atol=1e-5)


def test_demodulated_output_ignores_the_style_scale():
  """Demodulation divides out any per-sample scaling of the styles."""
  conv = superres.ModulatedConv(4, 6, 3, 8, nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (1, 7, 7, 4))
  w = jax.random.normal(jax.random.key(1), (1, 8))
  a = conv(x, w) - conv.bias[...]
  conv.affine.bias[...] = 3.0 * conv.affine.bias[...]
  conv.affine.weight[...] = 3.0 * conv.affine.weight[...]
  np.testing.assert_allclose(conv(x, w) - conv.bias[...], a, rtol=1e-4,
                             atol=1e-5)


def test_demodulation_gives_unit_variance_for_unit_inputs():
  conv = superres.ModulatedConv(64, 32, 3, 8, nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(0), (4, 32, 32, 64))
  y = conv(x, jax.random.normal(jax.random.key(1), (4, 8)))
  inner = (y - conv.bias[...])[:, 1:-1, 1:-1]
  assert abs(float(jnp.std(inner)) - 1.0) < 0.05


def test_torgb_is_a_style_scaled_1x1_conv():
  rgb = superres.ModulatedConv(5, 3, 1, 4, nnx.Rngs(0), demodulate=False)
  x = jax.random.normal(jax.random.key(0), (2, 3, 3, 5))
  w = jax.random.normal(jax.random.key(1), (2, 4))
  styles = rgb.affine(w) / math.sqrt(5)
  expected = jnp.einsum("bhwi,io->bhwo", x * styles[:, None, None],
                        rgb.weight[...][0, 0]) + rgb.bias[...]
  np.testing.assert_allclose(rgb(x, w), expected, rtol=1e-5, atol=1e-5)


def test_tiny_super_resolution_quadruples_the_size():
  sr = superres.SuperResolution(sizes_lib.SuperResSizes.tiny(), nnx.Rngs(0))
  feats = jax.random.uniform(jax.random.key(0), (2, 8, 8, 8))
  out = sr(feats, feats[..., :3] * 2 - 1)
  assert out.shape == (2, 32, 32, 3)
  assert bool(jnp.all(jnp.isfinite(out)))


def test_one_block_super_resolution_doubles_the_size():
  sizes = sizes_lib.SuperResSizes(in_channels=8, widths=(16,), w_dim=16)
  assert sizes.factor == 2
  sr = superres.SuperResolution(sizes, nnx.Rngs(0))
  feats = jax.random.uniform(jax.random.key(0), (2, 8, 8, 8))
  assert sr(feats, feats[..., :3] * 2 - 1).shape == (2, 16, 16, 3)
  assert not hasattr(sr, "block1")
