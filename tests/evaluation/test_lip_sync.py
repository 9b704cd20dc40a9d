"""The audio-visual offset finds a known shift; the envelope is an RMS."""

import numpy as np

from p4d_jax.evaluation import lip_sync


def test_envelope_of_a_sine_is_its_rms():
  t = np.arange(16 * 1280) / 16000
  wave = 0.5 * np.sin(2 * np.pi * 200 * t)
  env = lip_sync.frame_envelope(wave, 1280)
  assert env.shape == (16,)
  np.testing.assert_allclose(env[1:-1], 0.5 / np.sqrt(2), rtol=1e-3)
  # Half the first window is padding: half the power.
  np.testing.assert_allclose(env[0], env[1] / np.sqrt(2), rtol=1e-2)


def test_offset_recovers_a_known_shift():
  rng = np.random.default_rng(0)
  envelope = np.abs(rng.standard_normal((6, 48)))
  for shift in (-2, 0, 3):
    motion = np.roll(envelope, shift, axis=1)    # frame t shows t - shift
    assert lip_sync.offset(motion, envelope) == shift
