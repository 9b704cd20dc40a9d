"""Loss terms against closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from p4d_jax.train import losses


def test_weighted_l1_is_the_mean_over_the_weighted_pixels():
  pred = jnp.array([[1.0, 2.0], [3.0, 4.0]])
  target = jnp.zeros((2, 2))
  assert float(losses.l1(pred, target)) == 2.5
  weight = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  assert float(losses.l1(pred, target, weight)) == 2.5
  assert float(losses.l1(pred, target, weight * jnp.array([[3.0], [1.0]]))) \
      == (3 * 1 + 4) / 4


def test_density_tv_of_a_constant_field_is_zero():
  const = lambda x: jnp.full(x.shape[:-1], 7.0)  # noqa: E731
  assert float(losses.density_tv(const, jax.random.key(0), 2, 1.3)) == 0.0


def test_density_tv_of_a_linear_field_has_its_closed_form():
  """sigma = a . x: |a . e| with e ~ N(0, s^2 I) has mean |a| s sqrt(2/pi)."""
  a = jnp.array([3.0, -4.0, 0.0])   # |a| = 5
  linear = lambda x: x @ a  # noqa: E731
  got = losses.density_tv(linear, jax.random.key(0), 4, 1.3, points=50_000)
  expected = 5.0 * 0.004 * 1.3 * math.sqrt(2 / math.pi)
  assert abs(float(got) - expected) / expected < 0.01


def test_adversarial_losses_at_an_undecided_discriminator():
  zero = jnp.zeros(8)
  np.testing.assert_allclose(losses.generator_adversarial(zero), math.log(2))
  np.testing.assert_allclose(losses.discriminator_adversarial(zero, zero),
                             2 * math.log(2))
  # A confident, correct D: small D loss, large G loss.
  assert float(losses.discriminator_adversarial(zero + 9, zero - 9)) < 1e-3
  assert float(losses.generator_adversarial(zero - 9)) > 8.9


def test_r1_of_a_linear_discriminator_is_the_squared_weight_norm():
  w = jnp.array([[1.0, 2.0], [2.0, 0.5]])
  d = lambda x: jnp.sum(x * w, axis=(1, 2))  # noqa: E731
  real = jax.random.normal(jax.random.key(0), (3, 2, 2))
  np.testing.assert_allclose(losses.r1_penalty(d, real), float(jnp.sum(w**2)),
                             rtol=1e-6)


def test_ema_half_life_halves_the_old_share():
  decay = losses.ema_decay(batch=32, half_life_images=10_000,
                           images_seen=1e9)
  # decay is float32 (traced inside the step); its rounding, raised to the
  # 312th power, gives a few 1e-6.
  np.testing.assert_allclose(decay ** (10_000 / 32), 0.5, rtol=1e-5)
  ramped = losses.ema_decay(32, 10_000, images_seen=1_000, rampup=0.05)
  np.testing.assert_allclose(ramped, 0.5 ** (32 / 50))
  ema = losses.ema_update({"w": jnp.zeros(2)}, {"w": jnp.ones(2)}, 0.75)
  np.testing.assert_allclose(ema["w"], 0.25)
