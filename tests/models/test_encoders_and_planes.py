"""Detail encoder, background U-Net and tri-plane decoder: released sizes,
shapes, coordinate channels and the plane layout the renderer expects."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.models import canonical
from p4d_jax.models import encoders
from p4d_jax.models import sizes as sizes_lib
from p4d_jax.models import triplane_decoder
from tests.models import released


@released.needs_keys
@pytest.mark.parametrize("prefix, build", [
    ("encoder_detail", lambda: encoders.EncoderDetail(
        sizes_lib.DetailSizes(), nnx.Rngs(0))),
    ("background", lambda: encoders.EncoderBackground(
        sizes_lib.BackgroundSizes(), nnx.Rngs(0))),
    ("generator_triplane", lambda: triplane_decoder.DecoderTriplane(
        sizes_lib.TriplaneSizes(), nnx.Rngs(0))),
])
def test_paper_sizes_match_the_released_network(prefix, build):
  model = nnx.eval_shape(build)
  assert canonical.parameter_count(model) == released.count(prefix)


def test_coordinate_channels_run_x_then_y_from_minus_one_to_one():
  out = encoders.add_coords(jnp.zeros((1, 3, 5, 2)))
  assert out.shape == (1, 3, 5, 4)
  np.testing.assert_allclose(out[0, 0, :, 2], np.linspace(-1, 1, 5))
  np.testing.assert_allclose(out[0, :, 0, 3], np.linspace(-1, 1, 3))


def test_shapes_at_tiny_size():
  image = jax.random.uniform(jax.random.key(0), (2, 32, 32, 3), minval=-1)
  detail = encoders.EncoderDetail(sizes_lib.DetailSizes.tiny(), nnx.Rngs(0))
  feats = detail(image)
  assert feats.shape == (2, 16, 16, 24)
  bg = encoders.EncoderBackground(sizes_lib.BackgroundSizes.tiny(),
                                  nnx.Rngs(0))
  assert bg(image).shape == (2, 32, 32, 8)
  dec = triplane_decoder.DecoderTriplane(sizes_lib.TriplaneSizes.tiny(),
                                         nnx.Rngs(0))
  planes = dec(jnp.ones((2, 16, 16, 24)), feats)
  assert planes.shape == (2, 3, 16, 16, 8)


def test_plane_k_holds_channels_k_times_c_of_the_last_conv():
  """The reference views 3*C channels as (3, C): plane-major."""
  dec = triplane_decoder.DecoderTriplane(sizes_lib.TriplaneSizes.tiny(),
                                         nnx.Rngs(0))
  captured = {}
  last = dec.conv_last

  class Spy(nnx.Module):
    def __init__(self):
      self.inner = last

    def __call__(self, x):
      captured["raw"] = self.inner(x)
      return captured["raw"]

  dec.conv_last = Spy()
  planes = dec(jnp.ones((1, 8, 8, 24)), jnp.zeros((1, 8, 8, 24)))
  raw = captured["raw"]
  for k in range(3):
    np.testing.assert_array_equal(planes[0, k], raw[0, ..., k * 8:(k + 1) * 8])


@released.needs_keys
def test_global_encoder_paper_size_matches_the_released_network():
  from p4d_jax.models import global_encoder
  model = nnx.eval_shape(lambda: global_encoder.EncoderGlobal(
      sizes_lib.GlobalSizes(), nnx.Rngs(0)))
  assert canonical.parameter_count(model) == released.count("encoder_global")


def test_global_encoder_has_output_stride_eight():
  from p4d_jax.models import global_encoder
  enc = global_encoder.EncoderGlobal(sizes_lib.GlobalSizes.tiny(),
                                     nnx.Rngs(0))
  out = enc(jax.random.uniform(jax.random.key(0), (1, 64, 64, 3), minval=-1))
  assert out.shape == (1, 8, 8, 32)
  assert bool(jnp.all(out >= 0))     # ends in a ReLU
