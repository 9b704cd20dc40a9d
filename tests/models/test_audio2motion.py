"""The audio-to-motion network: one output per video frame, centred on it
(shifting the audio by a frame shifts the output by a frame), and the
smoothness term in closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from p4d_jax.models import audio2motion
from p4d_jax.models import sizes


@pytest.fixture(scope="module")
def model():
  m = audio2motion.Audio2Motion(sizes.Audio2MotionSizes(width=16,
                                                        dilations=(1, 2)))
  return m, m.init(jax.random.key(0))


def test_one_output_per_frame_and_shift_equivariant(model):
  m, params = model
  wave = np.random.default_rng(0).standard_normal(24 * 1280 + 700) * 0.1
  predict = jax.jit(m.predict)
  out = np.asarray(predict(params, jnp.asarray(wave[None], jnp.float32)))
  assert out.shape == (1, 24, 6)
  later = np.concatenate([np.zeros(1280), wave])[:len(wave)]
  moved = np.asarray(predict(params, jnp.asarray(later[None], jnp.float32)))
  # Frames far from both ends see the same audio one frame later.
  np.testing.assert_allclose(moved[0, 10:16], out[0, 9:15], atol=1e-4)


def test_too_short_audio_is_a_user_error(model):
  m, params = model
  with pytest.raises(ValueError, match="shorter than one video frame"):
    m.predict(params, jnp.zeros((1, 1000)))


def test_laplacian_in_closed_form():
  line = jnp.arange(10.0)[None, :, None] * jnp.ones((2, 1, 3))
  assert float(audio2motion.laplacian(line)) == pytest.approx(0.0)
  zigzag = jnp.array([1.0, -1.0] * 5)[None, :, None]
  assert float(audio2motion.laplacian(zigzag)) == pytest.approx(4.0)


def test_the_flow_prior_inverts_and_the_cvae_fits_and_generates():
  s = sizes.Audio2MotionSizes(kind="cvae", width=16, dilations=(1,),
                              latent=4, flows=3, flow_hidden=8)
  m = audio2motion.Audio2Motion(s)
  params = m.init(jax.random.key(0))
  net = nnx.merge(m.graphdef, params[audio2motion.PREFIX])
  # Randomise the zero-initialised coupling outputs: a non-trivial flow.
  for layer in net.prior.layers:
    layer.out.kernel[...] = 0.3 * jax.random.normal(
        jax.random.key(1), layer.out.kernel.shape)
  z = jax.random.normal(jax.random.key(2), (2, 5, 4))
  g = jax.random.normal(jax.random.key(3), (2, 5, 16))
  u = net.prior.forward(z, g)
  assert float(jnp.abs(u - z).max()) > 0.1
  np.testing.assert_allclose(net.prior.inverse(u, g), z, atol=1e-5)
  wave = jnp.asarray(np.random.default_rng(0).standard_normal((2, 9 * 1280))
                     * 0.1, jnp.float32)
  target = jnp.zeros((2, 9, 6))
  pred, extra = jax.jit(m.fit_terms)(params, wave, target,
                                     jax.random.key(4))
  assert pred.shape == (2, 9, 6) and np.isfinite(float(extra["kl"]))
  predict = jax.jit(m.predict)
  cold = predict(params, wave, jax.random.key(8), 0.0)   # temperature 0
  np.testing.assert_array_equal(cold, predict(params, wave,
                                              jax.random.key(9), 0.0))
  warm = predict(params, wave, jax.random.key(9), 1.0)
  assert float(jnp.abs(warm - cold).max()) > 0
