"""SynthHeads speech: deterministic, tied sample by sample to the jaw, silent
where the mouth rests, with the mouth's shape in its spectrum."""

import numpy as np
import jax.numpy as jnp

from p4d_jax.audio import features
from p4d_jax.data.synthheads import examples
from p4d_jax.data.synthheads import params as P
from p4d_jax.data.synthheads import speech
from p4d_jax.evaluation import lip_sync

FPS = 12.5
PER = 1280   # samples a frame


def track(frames=24, **values):
  """An expression track [T, 6] with per-parameter arrays or constants."""
  e = np.zeros((frames, 6), np.float32)
  for name, v in values.items():
    e[:, P.index(P.EXPRESSION, name)] = v
  return e


def test_same_seed_same_samples_other_identity_other_voice():
  spec = examples.Spec()
  expression = examples.clip_curves(spec, 5)[0]
  a = speech.clip_audio(expression, FPS, 0, 5)
  assert a.dtype == np.float32 and a.shape == (48 * PER,)
  np.testing.assert_array_equal(a, speech.clip_audio(expression, FPS, 0, 5))
  b = speech.clip_audio(expression, FPS, 0, 6)
  assert np.abs(a - b).max() > 0.01
  assert np.abs(a).max() <= 1.0


def test_loudness_is_level_times_jaw_in_closed_form():
  # Jaw held for 4 frames at each level: the RMS around the middle frames is
  # LEVEL * jaw (the harmonic amplitudes have unit RMS; breath noise is
  # mixed at unit total power).
  levels = np.repeat([0.0, 0.25, 0.5, 1.0, 0.75, 0.0], 4)
  wave = speech.synthesise(track(len(levels), jaw_open=levels, smile=0.3),
                           FPS, np.random.default_rng(0))
  rms = lip_sync.frame_envelope(wave, PER)
  middle = np.arange(1, len(levels), 4)        # frames away from the steps
  np.testing.assert_allclose(rms[middle], speech.LEVEL * levels[middle],
                             rtol=0.08, atol=1e-6)
  spec = examples.Spec()
  expression = examples.clip_curves(spec, 7)[0]
  clip = speech.clip_audio(expression, FPS, 0, 7)
  r = np.corrcoef(lip_sync.frame_envelope(clip, PER), expression[:, 0])[0, 1]
  assert r > 0.97


def test_onsets_are_sample_accurate_and_rests_are_silent():
  jaw = np.zeros(20)
  jaw[10:15] = 0.8
  wave = speech.synthesise(track(20, jaw_open=jaw, smile=0.5, blink_left=1.0),
                           FPS, np.random.default_rng(1))
  # Frame 9 (jaw 0) to frame 10 (jaw 0.8): sound starts right after sample
  # 9 * 1280 and is exactly zero before it; after frame 15 it is zero again.
  assert not np.any(wave[:9 * PER + 1])
  assert np.any(wave[9 * PER + 1:9 * PER + 40])
  assert not np.any(wave[15 * PER:])
  # Blinks, smiles and brows alone make no sound.
  quiet = speech.synthesise(track(20, blink_left=np.linspace(0, 1, 20),
                                  smile=0.8, brow_raise=0.5, pucker=0.4),
                            FPS, np.random.default_rng(2))
  assert not np.any(quiet)
  # A stored clip: silent between any two frames whose jaw rests.
  spec = examples.Spec()
  expression = examples.clip_curves(spec, 3)[0]
  clip = speech.clip_audio(expression, FPS, 0, 3)
  rest = np.flatnonzero((expression[:-1, 0] == 0) & (expression[1:, 0] == 0))
  assert len(rest) > 3
  for k in rest:
    assert not np.any(clip[k * PER:(k + 1) * PER + 1])


def test_pitch_of_a_steady_vowel_is_the_voice_pitch():
  voice = speech.Voice(pitch=150.0, tract=1.0, breath=0.0, intonation=0.0)
  wave = speech.synthesise(track(12, jaw_open=0.3), FPS,
                           np.random.default_rng(0), voice)
  f0, strength = (np.asarray(x) for x in features.pitch(jnp.asarray(wave)))
  inner = slice(4, -4)
  np.testing.assert_allclose(f0[inner], 150.0, rtol=0.01)
  assert strength[inner].min() > 0.9


def _band_centroid(wave, lo, hi):
  mel = np.asarray(features.log_mel(jnp.asarray(wave)))[4:-4]
  centres = features.mel_centres()
  band = (centres > lo) & (centres < hi)
  weights = np.exp(mel[:, band] * np.log(10)).mean(0)
  return float((weights * centres[band]).sum() / weights.sum())


def test_formants_follow_the_mouth():
  voice = speech.Voice(pitch=100.0, tract=1.0, breath=0.0, intonation=0.0)
  rng = lambda: np.random.default_rng(0)  # noqa: E731
  make = lambda **v: speech.synthesise(track(12, **v), FPS, rng(), voice)  # noqa: E731
  # F1 rises with the jaw (same loudness: centroid is level-free).
  assert (_band_centroid(make(jaw_open=1.0), 200, 1000) >
          _band_centroid(make(jaw_open=0.2), 200, 1000) + 100)
  # F2 rises with a smile and falls with a pucker.
  smile = _band_centroid(make(jaw_open=0.5, smile=1.0), 900, 2300)
  pucker = _band_centroid(make(jaw_open=0.5, pucker=1.0), 900, 2300)
  assert smile > pucker + 150
