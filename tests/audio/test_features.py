"""The audio front end against closed forms."""

import numpy as np
import jax.numpy as jnp
import pytest

from p4d_jax.audio import features as F

SR = F.SAMPLE_RATE


def tone(freq, seconds=0.5):
  t = np.arange(int(SR * seconds)) / SR
  return jnp.asarray(np.sin(2 * np.pi * freq * t), jnp.float32)


@pytest.mark.parametrize("freq", [150.0, 440.0, 1000.0, 2500.0, 6000.0])
def test_a_pure_tone_lands_in_its_mel_band(freq):
  mel = np.asarray(F.log_mel(tone(freq)))
  assert mel.shape == (int(SR * 0.5) // F.HOP, F.MELS)
  nearest = np.abs(F.mel_centres() - freq).argmin()
  assert abs(int(np.median(mel[5:-5].argmax(-1))) - nearest) <= 1


def test_silence_is_the_floor_and_unvoiced():
  quiet = jnp.zeros(SR // 4)
  np.testing.assert_array_equal(np.asarray(F.log_mel(quiet)),
                                np.log10(F.FLOOR).astype(np.float32))
  f0, strength = F.pitch(quiet)
  assert not np.any(np.asarray(f0)) and not np.any(np.asarray(strength))
  feats = np.asarray(F.compute(quiet))
  assert feats.shape == (SR // 4 // F.HOP, F.DIM)
  np.testing.assert_allclose(feats[:, :F.MELS], -1.0)


@pytest.mark.parametrize("period", [40, 100, 180])
def test_a_pulse_train_is_voiced_at_its_rate_noise_is_not(period):
  pulses = np.zeros(SR // 2, np.float32)
  pulses[::period] = 1.0
  f0, strength = (np.asarray(x) for x in F.pitch(jnp.asarray(pulses)))
  np.testing.assert_allclose(f0[3:-3], SR / period, rtol=0.005)
  assert strength[3:-3].min() > 0.95
  noise = np.random.default_rng(0).standard_normal(SR // 2)
  f0, strength = (np.asarray(x) for x in F.pitch(jnp.asarray(noise)))
  assert np.mean(f0 > 0) < 0.05


def test_frame_m_is_centred_on_sample_m_hop():
  click = np.zeros(SR // 5, np.float32)
  click[7 * F.HOP] = 1.0
  energy = np.asarray(F.log_mel(jnp.asarray(click))).mean(-1)
  assert int(energy.argmax()) == 7
  assert energy[6] == energy[8]          # symmetric window about the click
